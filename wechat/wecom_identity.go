package wechat

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WeComIdentity is who redeemed a WeCom code. Exactly one of UserID (a
// member), or OpenID (a non-member) is set; ExternalUserID is set besides
// OpenID when the person is a customer (客户) of the corp followed by someone
// in the app's visible range.
type WeComIdentity struct {
	// UserID is the member's userid; for 互联企业/上下游 members it reads "CorpId/userid" (see LinkedCorp).
	UserID string
	// OpenID identifies a non-member.
	OpenID string
	// ExternalUserID identifies a customer of the corp.
	ExternalUserID string
	// UserTicket is given under snsapi_privateinfo to a member in the app's visible
	// range, never by desktop login; it redeems through UserDetail. "" otherwise.
	UserTicket string
	// TicketExpires is when UserTicket stops working: 1800 s after the redemption
	// (auth/getuserinfo states the life in prose only; expires_in when given).
	TicketExpires time.Time
	// DeviceID is the member's device (older user/getuserinfo only).
	DeviceID string
}

// IsMember reports whether the person is a member of the corp (or of a linked corp).
func (id *WeComIdentity) IsMember() bool { return id.UserID != "" }

// LinkedCorp splits a 互联企业 userid "CorpId/userid" into its corp and
// userid; ok is false for a member of the corp itself.
func (id *WeComIdentity) LinkedCorp() (corpID, userID string, ok bool) {
	return strings.Cut(id.UserID, "/")
}

// userTicketLife is user_ticket's documented life when no expires_in comes.
const userTicketLife = 1800 * time.Second

type weComIdentityResponse struct {
	UserID         string `json:"userid"`
	OpenID         string `json:"openid"`
	ExternalUserID string `json:"external_userid"`
	UserTicket     string `json:"user_ticket"`
	ExpiresIn      int    `json:"expires_in"`
	// The older user/getuserinfo capitalises these.
	OldUserID   string `json:"UserId"`
	OldOpenID   string `json:"OpenId"`
	OldDeviceID string `json:"DeviceId"`
}

// Identity redeems an authorize or desktop-login code at
// cgi-bin/auth/getuserinfo. A code redeems once (40029 afterwards, and after
// 5 minutes); the redirect host must be one of the app's 可信域名, port
// included, or WeCom answers 50001 here.
func (w *WeComClient) Identity(ctx context.Context, code string) (*WeComIdentity, error) {
	return w.identity(ctx, pathWeComAuthUser, code)
}

// IdentityOld redeems a code at the older cgi-bin/user/getuserinfo, whose
// answer capitalises UserId/OpenId/DeviceId. New integrations use Identity.
func (w *WeComClient) IdentityOld(ctx context.Context, code string) (*WeComIdentity, error) {
	return w.identity(ctx, pathWeComOldUser, code)
}

func (w *WeComClient) identity(ctx context.Context, op, code string) (*WeComIdentity, error) {
	if code == "" {
		return nil, &RequestError{Op: op, Err: errors.New("the code is empty; the callback must pass on the code WeCom appended")}
	}
	var res weComIdentityResponse
	// Not repeated: the code redeems once, and a repeat after a lost answer would only say 40029.
	if err := w.doToken(ctx, request{op: op, method: "GET", query: url.Values{"code": {code}}}, &res); err != nil {
		return nil, err
	}
	id := &WeComIdentity{UserID: first(res.UserID, res.OldUserID), OpenID: first(res.OpenID, res.OldOpenID),
		ExternalUserID: res.ExternalUserID, UserTicket: res.UserTicket, DeviceID: res.OldDeviceID}
	if id.UserID == "" && id.OpenID == "" {
		return nil, &RequestError{Op: op, Err: errors.New("response names neither a userid nor an openid; check api_base points at " + DefaultWeComAPIBase)}
	}
	if id.UserTicket != "" {
		life := userTicketLife
		if res.ExpiresIn > 0 {
			life = time.Duration(res.ExpiresIn) * time.Second
		}
		id.TicketExpires = w.c.now().Add(life)
	}
	return id, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// WeComUserDetail is what auth/getuserdetail gives for a user_ticket: the
// sensitive fields the admin chose for the app and the member confirmed;
// the others come back empty (gender "0", a default avatar).
type WeComUserDetail struct {
	UserID  string `json:"userid"`
	Gender  string `json:"gender"`
	Avatar  string `json:"avatar"`
	QRCode  string `json:"qr_code"`
	Mobile  string `json:"mobile"`
	Email   string `json:"email"`
	BizMail string `json:"biz_mail"`
	Address string `json:"address"`
}

// UserDetail redeems a user_ticket (snsapi_privateinfo, 1800 s) at
// cgi-bin/auth/getuserdetail. The member must be in the app's visible range.
func (w *WeComClient) UserDetail(ctx context.Context, userTicket string) (*WeComUserDetail, error) {
	body, err := jsonBody(map[string]string{"user_ticket": userTicket})
	if err != nil {
		return nil, err
	}
	var res WeComUserDetail
	if err := w.doToken(ctx, request{op: pathWeComUserDetail, method: "POST", body: body, retry: true}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// WeComUser is a member as cgi-bin/user/get describes them to a self-built
// app created after 2022-06-20: name and departments, no mobile, email or avatar.
type WeComUser struct {
	UserID string `json:"userid"`
	Name   string `json:"name"`
	// Department lists the ids of the member's departments.
	Department []int64 `json:"department"`
	// MainDepartment is the member's main department id.
	MainDepartment int64 `json:"main_department"`
	// Status is 1 active, 2 disabled, 4 not yet activated, 5 left.
	Status int `json:"status"`
}

// User reads a member at cgi-bin/user/get. The app must see the member
// (visible range); otherwise WeCom refuses (60011 or 60021).
func (w *WeComClient) User(ctx context.Context, userID string) (*WeComUser, error) {
	var res WeComUser
	if err := w.doToken(ctx, request{op: pathWeComUserGet, method: "GET", query: url.Values{"userid": {userID}}, retry: true}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// WeComDepartment is one node of the corp's department tree.
type WeComDepartment struct {
	ID       int64 `json:"id"`
	ParentID int64 `json:"parentid"`
	Order    int64 `json:"order"`
}

// Departments lists department id and its sub-departments, all levels, at
// cgi-bin/department/simplelist (id 0 lists every department the app sees).
func (w *WeComClient) Departments(ctx context.Context, id int64) ([]WeComDepartment, error) {
	q := url.Values{}
	if id > 0 {
		q.Set("id", strconv.FormatInt(id, 10))
	}
	var res struct {
		DepartmentID []WeComDepartment `json:"department_id"`
	}
	if err := w.doToken(ctx, request{op: pathWeComDepartments, method: "GET", query: q, retry: true}, &res); err != nil {
		return nil, err
	}
	return res.DepartmentID, nil
}

// WeComRootDepartment is the id of a corp's root department, the parent of
// every top-level department (department/simplelist, path 36259: "根部门为1").
const WeComRootDepartment int64 = 1

// WithinDepartments reports whether any of member's departments is one of
// allowed or below one of them in tree (as Departments(ctx, 0) lists it): a
// department includes its sub-departments. The root department
// (WeComRootDepartment) holds every member of the corp, whether or not the
// app's tree reaches up to it: a self-built app sees only the departments of
// its visible range.
func WithinDepartments(member []int64, allowed []int64, tree []WeComDepartment) bool {
	if len(member) > 0 && slices.Contains(allowed, WeComRootDepartment) {
		return true
	}
	parent := make(map[int64]int64, len(tree))
	for _, d := range tree {
		parent[d.ID] = d.ParentID
	}
	want := make(map[int64]bool, len(allowed))
	for _, a := range allowed {
		want[a] = true
	}
	for _, d := range member {
		// The walk stops at the root (parent 0), an unknown id or after len(tree) steps (a cycle).
		for i := 0; d != 0 && i <= len(tree); i++ {
			if want[d] {
				return true
			}
			p, ok := parent[d]
			if !ok {
				break
			}
			d = p
		}
	}
	return false
}
