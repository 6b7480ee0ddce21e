package wechatauth

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// What a handler with pass_access_token, verify_interval or profile_ttl
// (docs/tokens.md) does on a request: the gate asks webTokenUse before the
// policy decides (a session WeChat has ended counts as none, so the policy
// signs the visitor in again) and after it admits (the token header, a
// profile WeChat changed). Handlers without these settings have no
// webTokenUse and pay nothing.

// webTokenUse is a handler's use of its token keeper.
type webTokenUse struct {
	keeper *webTokenKeeper
	// header is the canonical X-WeChat-Access-Token (under header_prefix);
	// "" unless pass_access_token.
	header   string
	sessions *sessions
	logger   *zap.Logger
}

// webTokenTestClock, when set by a test, is every keeper's clock: the
// simulator's fake clock, so a test can move 7,300 s forward.
var webTokenTestClock func() time.Time

// newWebTokenUse builds the keeper for a handler whose Official Account
// signs visitors in; nil when none of the settings is on.
func (h *Handler) newWebTokenUse(clock func() time.Time) *webTokenUse {
	if !h.PassAccessToken && h.VerifyInterval <= 0 && h.ProfileTTL <= 0 {
		return nil
	}
	if webTokenTestClock != nil {
		clock = webTokenTestClock
	}
	k := newWebTokenKeeper(h.AppID, h.acct.client, h.app.store, clock, h.logger)
	k.passToken = h.PassAccessToken
	k.verifyEvery, k.profileTTL = time.Duration(h.VerifyInterval), time.Duration(h.ProfileTTL)
	k.ttl = time.Duration(h.SessionTTL)
	u := &webTokenUse{keeper: k, sessions: h.sessions, logger: h.logger}
	if h.PassAccessToken {
		u.header = textproto.CanonicalMIMEHeaderKey(h.HeaderPrefix + "Access-Token")
		if h.logger.Core().Enabled(zapcore.DebugLevel) {
			// Caddy's proxies log the request they send at DEBUG, headers
			// included; only Authorization and Cookie are redacted there.
			h.logger.Warn("pass_access_token at log level DEBUG: Caddy's reverse_proxy and php_fastcgi log the headers they send upstream, the web access_token included; add a log filter for the fields request>headers>" + u.header + " and env>HTTP_" + strings.ToUpper(strings.ReplaceAll(u.header, "-", "_")) + " (docs/tokens.md)")
		}
	}
	return u
}

// keeps reports whether the keeper has tokens for id's kind of session:
// the Official Account's own web authorization (not desktop_login's
// website app, not a session from before session ids).
func keeps(id *identity) bool {
	return id != nil && id.sess.ID != "" && id.sourceName() == sourceMP.name
}

// consult returns the identity the request goes on with and what the
// keeper knows. A session WeChat has ended (its refresh_token refused, the
// authorization withdrawn), or one from before the tokens were kept, gives
// nil: the policy then signs the visitor in again, silently where the
// scope allows, as for an expired cookie.
func (u *webTokenUse) consult(r *http.Request, id *identity) (*identity, webTokenView) {
	if !keeps(id) {
		return id, webTokenView{}
	}
	v := u.keeper.view(r.Context(), id.sess.ID, id.sess.Scope == wechat.ScopeUserInfo)
	switch v.State {
	case webTokenEnded:
		return nil, v
	case webTokenMissing:
		if u.keeper.predates(r.Context(), id.sess.issuedMs()) {
			return nil, v
		}
	}
	return id, v
}

// profiled returns the identity whose headers go upstream. When the
// keeper fetched a profile that differs from the cookie's, it is that
// profile, and with reissue the response carries a cookie holding it (the
// in-path handler; a forward-auth answer's cookie never reaches the
// browser).
func (u *webTokenUse) profiled(w http.ResponseWriter, r *http.Request, id *identity, v webTokenView, reissue bool) *identity {
	if !keeps(id) || id.sess.Scope != wechat.ScopeUserInfo || v.Nickname == "" ||
		(v.Nickname == id.sess.Nickname && v.Avatar == id.sess.Avatar) {
		return id
	}
	s := id.sess
	s.Nickname, s.Avatar = v.Nickname, v.Avatar
	if reissue {
		if site, err := siteOrigin(r); err == nil {
			if err := u.sessions.issue(w, site, s); err != nil {
				u.logger.Warn("reissuing the session cookie with the refreshed profile failed; the old profile stays in the cookie", zap.Error(err))
			}
		}
	}
	nid := newIdentity(s, nil)
	// What setSource gave the identity: the same app as before.
	nid.source, nid.phSource, nid.phAppID, nid.appID = id.source, id.phSource, id.phAppID, id.appID
	nid.checked.Store(id.checked.Load())
	return nid
}

// pass sets the token header on h, its value held in a (per request, like
// every identity header): the kept token, or, for a forward-auth answer
// (always), empty when there is none, so a front proxy copying it
// overwrites a client's copy.
func (u *webTokenUse) pass(h http.Header, a *admitted, v webTokenView, always bool) {
	if u.header != "" && (v.Access != "" || always) {
		a.set(h, u.header, slotAccessToken, v.Access)
	}
}

// validateWebTokens checks pass_access_token, verify_interval and
// profile_ttl; each error names the setting to fix.
func (h *Handler) validateWebTokens() error {
	for _, d := range [...]struct {
		name string
		v    caddy.Duration
	}{{"verify_interval", h.VerifyInterval}, {"profile_ttl", h.ProfileTTL}} {
		switch {
		case d.v < 0:
			return fmt.Errorf("%s %s is negative: leave it out (off) or use e.g. 1h", d.name, time.Duration(d.v))
		case d.v > 0 && time.Duration(d.v) < time.Minute:
			return fmt.Errorf("%s %s is shorter than 1m: every active visitor would cost a WeChat call that often; use at least 1m (docs/tokens.md)", d.name, time.Duration(d.v))
		}
	}
	var name string
	switch {
	case h.PassAccessToken:
		name = "pass_access_token"
	case h.VerifyInterval > 0:
		name = "verify_interval"
	case h.ProfileTTL > 0:
		name = "profile_ttl"
	default:
		return nil
	}
	if h.Component {
		return fmt.Errorf("%s is set with component: the third-party platform's web tokens are not kept; remove %s from this site", name, name)
	}
	if h.Relay != "" {
		return fmt.Errorf("%s is set on a relay client (relay): its visitors sign in at the relay, and the web token stays there; remove %s from this site", name, name)
	}
	if h.AppSecret == "" {
		return fmt.Errorf("%s needs app_secret: the web token comes from this site's own sign-in with the Official Account", name)
	}
	return nil
}
