package wechatauth

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// A WeCom member's session and what goes upstream from it. The session is
// the shared Session: AppID is the configured corp ID, OpenID the member's
// key (userid; CorpId/userid for a linked corp's member; the openid of an
// admitted non-member), Scope WeCom's scope, and Extra the rest, encoded
// here. The upstream gets X-WeCom-* headers besides X-WeChat-OpenID (the
// key), X-WeChat-Scope and X-WeChat-Source: wecom.

// sourceWeCom is X-WeChat-Source for WeCom sessions.
var sourceWeCom = newAppSource("wecom")

// wecomExtraPrefix marks Session.Extra as a WeCom member's.
const wecomExtraPrefix = "wecom:"

// The fields of Session.Extra and, with the prefix below, the headers and
// {http.auth.user.*} placeholders they become.
var wecomFields = [...]struct{ key, header, placeholder string }{
	wfCorpID:         {"c", "CorpID", "corp_id"},
	wfUserID:         {"u", "UserID", "userid"},
	wfOpenID:         {"o", "OpenID", "wecom_openid"},
	wfExternalUserID: {"x", "ExternalUserID", "external_userid"},
	wfDepartments:    {"d", "Departments", "departments"},
	wfName:           {"n", "Name", "name"},
	wfMobile:         {"m", "Mobile", "mobile"},
	wfEmail:          {"e", "Email", "email"},
	wfGender:         {"g", "Gender", "gender"},
	wfAvatar:         {"a", "Avatar", "wecom_avatar"},
}

// The index of each WeCom field in wecomFields and wecomIdentity.values.
const (
	wfCorpID = iota
	wfUserID
	wfOpenID
	wfExternalUserID
	wfDepartments
	wfName
	wfMobile
	wfEmail
	wfGender
	wfAvatar
)

// wecomHeaderPrefix prefixes the WeCom identity headers. Every client-sent
// header under it is stripped on every wechat_auth (identity.go).
const wecomHeaderPrefix = "X-WeCom-"

// wecomHeaderKeys are the canonical header names of wecomFields.
var wecomHeaderKeys = func() (out [len(wecomFields)]string) {
	for i, f := range wecomFields {
		out[i] = textproto.CanonicalMIMEHeaderKey(wecomHeaderPrefix + f.header)
	}
	return out
}()

// wecomSession is the session of an admitted member.
func wecomSession(corpID string, m *wecomMember) Session {
	key := m.UserID
	switch {
	case m.UserID == "":
		key = m.OpenID
	case m.CorpID != corpID:
		key = m.CorpID + "/" + m.UserID
	}
	depts := make([]string, len(m.Departments))
	for i, d := range m.Departments {
		depts[i] = strconv.FormatInt(d, 10)
	}
	vals := [len(wecomFields)]string{m.CorpID, m.UserID, m.OpenID, m.ExternalUserID, strings.Join(depts, ","), m.Name,
		m.Mobile, m.Email, m.Gender, m.Avatar}
	q := url.Values{}
	for i, f := range wecomFields {
		if vals[i] != "" {
			q.Set(f.key, vals[i])
		}
	}
	scope := wechat.WeComScopeBase
	if m.PrivateInfo {
		scope = wechat.WeComScopePrivateInfo
	}
	return Session{AppID: corpID, OpenID: key, Scope: scope, ID: randomAlnum(sessionIDLen), Extra: wecomExtraPrefix + q.Encode()}
}

// wecomIdentity is what a WeCom session sends upstream besides the
// X-WeChat-* headers, decoded once per session (the identity is memoized):
// header values ("" where unknown) and placeholder values.
type wecomIdentity struct {
	headers [len(wecomFields)]string
	values  [len(wecomFields)]string
}

// newWeComIdentity decodes a WeCom session's Extra; nil for other sessions.
func newWeComIdentity(s *Session) *wecomIdentity {
	enc, ok := strings.CutPrefix(s.Extra, wecomExtraPrefix)
	if !ok {
		return nil
	}
	q, err := url.ParseQuery(enc)
	if err != nil {
		return nil
	}
	w := &wecomIdentity{}
	for i, f := range wecomFields {
		v := q.Get(f.key)
		w.values[i] = v
		switch {
		case f.key == "n":
			// Percent-encoded UTF-8, as X-WeChat-Nickname: header values are bytes.
			v = url.PathEscape(v)
		case f.key == "a" && !cleanAvatarURL(v):
			v = ""
		}
		w.headers[i] = v
	}
	return w
}

// assertionClaims puts WeCom's ids into a signed assertion
// (assertion.go): userid and corpid for a member, the WeCom openid (and
// external_userid) for an admitted non-member, never a userid in openid.
// sub stays appid:key for a member (a linked corp's key holds "/", which a
// userid cannot) and becomes appid:openid:<openid> for a non-member, so no
// userid, which cannot hold ":", can meet it.
func (w *wecomIdentity) assertionClaims(c *assertionClaims) {
	c.CorpID, c.UserID = w.values[wfCorpID], w.values[wfUserID]
	c.OpenID, c.ExternalUserID = w.values[wfOpenID], w.values[wfExternalUserID]
	if c.UserID == "" {
		c.Sub = c.AppID + ":openid:" + c.OpenID
	}
}

// placeholder answers {http.auth.user.<name>} for the WeCom fields ("" when
// unknown, so a Caddyfile gets "" rather than the placeholder's text).
func (w *wecomIdentity) placeholder(name string) (any, bool) {
	for i, f := range wecomFields {
		if f.placeholder == name {
			return w.values[i], true
		}
	}
	return nil, false
}

// wecomValues are one request's X-WeCom-* values, an array of its own like
// admitted.vals, so a directive editing a value in place edits this
// request's only.
type wecomValues [len(wecomFields)]string

// setWeCom sets the WeCom headers w has (all of them, empty, for a nil w:
// a WeCom site's forward-auth answer names every one).
func (a *admitted) setWeCom(h http.Header, w *wecomIdentity) {
	if a.wecom == nil {
		a.wecom = new(wecomValues)
	}
	for i, k := range wecomHeaderKeys {
		if w == nil {
			a.wecom[i] = ""
		} else if a.wecom[i] = w.headers[i]; a.wecom[i] == "" {
			continue
		}
		h[k] = a.wecom[i : i+1 : i+1]
	}
}

// owns reports whether p is held in v (nil: never).
func (v *wecomValues) owns(p *string) bool {
	if v == nil {
		return false
	}
	for i := range v {
		if p == &v[i] {
			return true
		}
	}
	return false
}

// wecomHeaderFold is X-WeCom- as the strip compares header names (lower
// case, "-"): client-sent X-WeCom-* are stripped on every site
// (headerNames.isIdentityHeader).
const wecomHeaderFold = "x-wecom-"
