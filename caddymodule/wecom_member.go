package wechatauth

import (
	"context"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Turning a WeCom code into the person behind it, and deciding whether they
// may enter. WeCom's auth/getuserinfo answers with a userid for any member,
// inside the app's visible range (可见范围) or not, so a userid alone never
// admits anyone: the member is read with user/get (which refuses members
// the app cannot see, 60011/60021), and the allow rules are applied to
// what that says.

// wecomMember is who a WeCom sign-in admitted.
type wecomMember struct {
	// CorpID is the member's corp: the configured corp, or the linked
	// corp (互联企业) a CorpId/userid member belongs to.
	CorpID string
	// UserID is the member's userid within CorpID; "" for a non-member.
	UserID string
	// OpenID identifies a non-member (allow_non_members, allow_customers).
	OpenID string
	// ExternalUserID identifies a customer (客户) of the corp.
	ExternalUserID string
	// Name is the member's name, from user/get ("" for linked-corp members and non-members).
	Name string
	// Departments are the member's department ids, the main one first when WeCom says which.
	Departments []int64
	// PrivateInfo is true when the member granted snsapi_privateinfo and
	// getuserdetail answered: Mobile, Email, Gender and Avatar are then
	// what the admin enabled for the app (others empty).
	PrivateInfo                   bool
	Mobile, Email, Gender, Avatar string
}

// Why a sign-in WeCom completed is refused; the values are metric labels.
const (
	wecomRefusedNonMember  = "non_member"
	wecomRefusedCustomer   = "customer"
	wecomRefusedLinkedCorp = "linked_corp"
	wecomRefusedInvisible  = "outside_visible_range"
	wecomRefusedInactive   = "inactive"
	wecomRefusedNotAllowed = "not_allowed"
)

// wecomRefusal is a person WeCom signed in whom this site refuses.
type wecomRefusal struct {
	// Reason is one of the wecomRefused constants.
	Reason string
	// Who is the userid or openid, for the operator's log.
	Who string
	// Err is WeCom's answer behind the refusal (60011, 60021), if any.
	Err error
}

func (r *wecomRefusal) Error() string {
	msg := "wecom: " + r.Who + " refused: " + r.Reason
	if r.Err != nil {
		msg += ": " + r.Err.Error()
	}
	return msg
}

func (r *wecomRefusal) Unwrap() error { return r.Err }

// wecomConfigError is a WeCom answer the operator must fix in the admin
// console or the configuration (wechat.IsWeComConfig); its text carries
// WeCom's hint naming the setting.
type wecomConfigError struct{ err error }

func (e *wecomConfigError) Error() string {
	return "wecom: fix the WeCom app's settings: " + e.err.Error()
}
func (e *wecomConfigError) Unwrap() error { return e.err }

// wecomSignIn admits members of one corp's app.
type wecomSignIn struct {
	cfg    *WeCom // expanded
	api    *wechat.WeComClient
	depts  *wecomDepartments
	users  map[string]bool // allow_users, lower-cased
	linked map[string]bool // allow_linked_corps, lower-cased
	logger *zap.Logger
}

func newWeComSignIn(cfg *WeCom, api *wechat.WeComClient, depts *wecomDepartments, logger *zap.Logger) *wecomSignIn {
	s := &wecomSignIn{cfg: cfg, api: api, depts: depts, users: map[string]bool{}, linked: map[string]bool{}, logger: logger}
	for _, u := range cfg.AllowUsers {
		s.users[strings.ToLower(u)] = true
	}
	for _, c := range cfg.AllowLinkedCorps {
		s.linked[strings.ToLower(c)] = true
	}
	return s
}

// classify sorts a WeCom error: a setting to fix, or as is — a code WeCom
// no longer takes (40029: used, invalid or older than 5 minutes; the
// callback starts the sign-in over, as it does for WeChat's), WeCom busy
// or unreachable.
func (s *wecomSignIn) classify(err error) error {
	if wechat.IsWeComConfig(err) {
		return &wecomConfigError{err}
	}
	return err
}

// member redeems code (from the in-client authorize or the desktop QR
// login) and returns who may enter, or a *wecomRefusal, a *wecomConfigError,
// or WeCom's error (40029 for a spent code; busy or unreachable).
func (s *wecomSignIn) member(ctx context.Context, code string) (*wecomMember, error) {
	id, err := s.api.Identity(ctx, code)
	if err != nil {
		return nil, s.classify(err)
	}
	if !id.IsMember() {
		return s.nonMember(id)
	}
	if corp, user, linked := id.LinkedCorp(); linked {
		// A linked corp's member: this corp's user/get does not describe them,
		// so only the corp list or their full CorpId/userid admits them.
		if !s.linked[strings.ToLower(corp)] && !s.users[strings.ToLower(id.UserID)] {
			return nil, &wecomRefusal{Reason: wecomRefusedLinkedCorp, Who: id.UserID}
		}
		return &wecomMember{CorpID: corp, UserID: user}, nil
	}
	u, err := s.api.User(ctx, id.UserID)
	switch c := wechat.Code(err); {
	case c == 60011 || c == 60021 || c == 60111: // which one WeCom answers for an unseen member is not documented
		return nil, &wecomRefusal{Reason: wecomRefusedInvisible, Who: id.UserID, Err: err}
	case err != nil:
		return nil, s.classify(err)
	case u.Status != 0 && u.Status != 1: // 2 disabled, 4 not activated, 5 left
		return nil, &wecomRefusal{Reason: wecomRefusedInactive, Who: id.UserID}
	}
	m := &wecomMember{CorpID: s.api.CorpID(), UserID: id.UserID, Name: u.Name, Departments: mainFirst(u.Department, u.MainDepartment)}
	if ok, err := s.allowed(ctx, m); err != nil {
		return nil, s.classify(err)
	} else if !ok {
		return nil, &wecomRefusal{Reason: wecomRefusedNotAllowed, Who: id.UserID}
	}
	if id.UserTicket != "" {
		s.addPrivateInfo(ctx, m, id.UserTicket)
	}
	return m, nil
}

// nonMember admits or refuses a person WeCom knows by openid only.
func (s *wecomSignIn) nonMember(id *wechat.WeComIdentity) (*wecomMember, error) {
	m := &wecomMember{CorpID: s.api.CorpID(), OpenID: id.OpenID, ExternalUserID: id.ExternalUserID}
	switch {
	case s.cfg.AllowNonMembers, s.cfg.AllowCustomers && id.ExternalUserID != "":
		return m, nil
	case id.ExternalUserID != "":
		return nil, &wecomRefusal{Reason: wecomRefusedCustomer, Who: id.OpenID}
	}
	return nil, &wecomRefusal{Reason: wecomRefusedNonMember, Who: id.OpenID}
}

// allowed applies allow_users and allow_departments to a member of the corp
// the app can see; with neither set, every such member may enter.
func (s *wecomSignIn) allowed(ctx context.Context, m *wecomMember) (bool, error) {
	if !s.cfg.restricted() || s.users[strings.ToLower(m.UserID)] {
		return true, nil
	}
	if len(s.cfg.AllowDepartments) == 0 {
		return false, nil
	}
	return s.depts.within(ctx, m.Departments, s.cfg.AllowDepartments)
}

// addPrivateInfo reads the member's sensitive fields with the user_ticket
// of a snsapi_privateinfo sign-in. Without them the member still signs in,
// as under base: the fields are extras, and the log says why they are missing.
func (s *wecomSignIn) addPrivateInfo(ctx context.Context, m *wecomMember, ticket string) {
	d, err := s.api.UserDetail(ctx, ticket)
	if err != nil {
		s.logger.Warn("WeCom getuserdetail failed: this member signs in without the privateinfo fields (mobile, email, gender, avatar)",
			zap.String("userid", m.UserID), zap.Error(err))
		return
	}
	m.PrivateInfo = true
	m.Mobile, m.Email, m.Gender, m.Avatar = d.Mobile, wecomFirst(d.Email, d.BizMail), d.Gender, d.Avatar
}

// mainFirst puts the main department first, as the member's first department.
func mainFirst(depts []int64, main int64) []int64 {
	i := slices.Index(depts, main)
	if i <= 0 {
		return depts
	}
	out := append([]int64{main}, depts[:i]...)
	return append(out, depts[i+1:]...)
}

func wecomFirst(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
