package wechatauth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The Official Account's web authorization (公众号网页授权): inside WeChat
// (and outside it under non_wechat login) the browser goes to WeChat's
// authorize page with snsapi_base or snsapi_userinfo and comes back to the
// callback with a code, which the account's client redeems.

// kindMP is the Official Account's flow in the flow cookie.
const kindMP flowKind = 1

// account is the Official Account a handler serves: its AppID and its
// WeChat client, shared by every handler of the AppID (one basic-token and
// one jsapi_ticket cache). A relay client has an AppID and no client.
type account struct {
	appID  string
	client *wechat.Client // nil without app_secret (a relay client)
}

// Which app an openid belongs to (X-WeChat-Source).
var (
	sourceMP  = newAppSource("mp")  // the Official Account (公众号)
	sourceWeb = newAppSource("web") // the website application of desktop_login
)

// mpFlow signs visitors in with the Official Account's web authorization.
type mpFlow struct {
	acct       *account
	source     *appSource // sourceMP for acct
	links      *links
	outsideToo bool         // non_wechat login: browsers outside WeChat authorize too
	tokens     *webTokenUse // keeps the web tokens (docs/tokens.md); nil without
	now        func() time.Time
	logger     *zap.Logger
}

func (m *mpFlow) kind() flowKind { return kindMP }

func (m *mpFlow) serves(r *http.Request) bool { return m.outsideToo || isWeChat(r) }

func (m *mpFlow) loginScope(requested string) string { return requested }

func (m *mpFlow) label() string { return "sign_in" }

func (m *mpFlow) codeApp() string { return m.acct.appID }

func (m *mpFlow) begin(site origin, f flowState) (string, error) {
	return m.acct.client.AuthorizeURL(m.links.endpoint(site, "callback"), f.Scope, f.State, wechat.AuthorizeOptions{}), nil
}

// owns takes the account's own sessions: snsapi_base and snsapi_userinfo.
func (m *mpFlow) owns(s *Session) (*appSource, bool) {
	return m.source, ownsAccountSession(s, m.acct.appID)
}

// ownsAccountSession reports whether s is a session of the Official
// Account appID: its web authorization's scopes, whichever site or relay
// ran it.
func ownsAccountSession(s *Session, appID string) bool {
	return s.AppID == appID && (s.Scope == wechat.ScopeBase || s.Scope == wechat.ScopeUserInfo)
}

// adopts a flow cookie of an older version that no other flow claims.
func (m *mpFlow) adopts(f flowState) bool {
	return f.Scope == wechat.ScopeBase || f.Scope == wechat.ScopeUserInfo
}

// redeem exchanges the code with the account's client. The exchange
// carries a unionid for snsapi_userinfo only; a snsapi_base visitor's comes
// from user/info (subscriber_info).
func (m *mpFlow) redeem(ctx context.Context, f flowState, code string) (loginEnd, error) {
	tok, err := m.acct.client.ExchangeCode(ctx, code)
	if err != nil {
		return loginEnd{}, err
	}
	if tok.Snapshot() {
		// A snapshot page's openid is virtual: no session, no identity.
		return loginEnd{ending: endSnapshot}, nil
	}
	userInfo := strings.Contains(tok.Scope, wechat.ScopeUserInfo)
	unionID := ""
	if userInfo {
		unionID = tok.UnionID
	}
	if !validIdentity(tok.OpenID, unionID, m.logger) {
		return loginEnd{ending: endUnavailable}, nil
	}
	// Every session has its own id, so a logout can end exactly it.
	s := Session{AppID: m.acct.appID, OpenID: tok.OpenID, UnionID: unionID, Scope: wechat.ScopeBase, ID: randomAlnum(sessionIDLen)}
	if userInfo && fillProfile(ctx, m.acct.client, &s, tok, m.now, m.logger) {
		s.Scope = wechat.ScopeUserInfo
	}
	if m.tokens != nil && f.RelayBack == "" {
		// A login relayed for a client site ends in the client's session:
		// its tokens stay unkept here (docs/relay.md).
		m.tokens.keeper.put(ctx, s.ID, tok, s.Nickname, s.Avatar, s.Scope == wechat.ScopeUserInfo)
	}
	return loginEnd{ending: endSession, sess: s}, nil
}
