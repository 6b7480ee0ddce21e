package wechatauth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// WeChat's callback (redirect_uri), the same for every flow whose logins
// end with a code (codeFlow): the state checked against this browser's flow
// cookie, the code redeemed once across replicas by the flow that started
// the login, and WeChat's refusals sorted into a silent retry or a page.

// serveCallback is WeChat's redirect_uri. The state is checked against this
// browser's flow cookie before the code is redeemed: a callback whose state
// this browser did not start (login CSRF) never logs it in.
func (l *logins) serveCallback(w http.ResponseWriter, r *http.Request, site origin) error {
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	if !validState(state) {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	f, ok := l.cookies.read(r, state)
	if !ok {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	fl := l.flowOf(f)
	if fl == nil && f.Kind == legacyFlowKind {
		if fl = l.adopt(f); fl != nil {
			// A login an older version started: its flow cookie names no
			// flow, so it starts over, silently, to the same page.
			return l.restart(w, r, site, fl, f)
		}
	}
	// A flow that never sends anyone to WeChat (a relay client's) did not
	// bring this browser here.
	cf, ok := fl.(codeFlow)
	if !ok {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	if f.Done {
		// A refresh or back button after a finished login.
		if l.resumable(r, fl, f) {
			procMetrics.loginCompleted(f.Scope, loginResumed)
			redirect(w, r, f.Return)
			return nil
		}
		return l.restart(w, r, site, fl, f)
	}
	if code == "" {
		return l.finish(w, r, site, fl, f, loginEnd{ending: endDeclined})
	}
	if len(code) > 512 {
		procMetrics.loginCompleted(f.Scope, loginCodeRejected)
		return l.writeFlowLost(w, r, site)
	}

	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	end, err := l.claims.redeemOnce(ctx, cf.codeApp(), code, f.State, func() (loginEnd, error) { return cf.redeem(ctx, f, code) })
	switch {
	case errors.Is(err, errCodeSpent):
		// Another login state redeemed this code: to this browser it is a
		// used code, whatever the claim holds (a replayed callback URL
		// never carries another browser's session away).
		if ce := l.logger.Check(zap.InfoLevel, "a callback carried a code another login redeemed; answered as a used code"); ce != nil {
			ce.Write()
		}
		return l.codeSpent(w, r, site, fl, f, "errcode 40163")
	case err != nil:
		procMetrics.callbackFailed(wechat.Code(err))
		return l.codeFailed(w, r, site, fl, f, err)
	}
	return l.finish(w, r, site, fl, f, end)
}

// codeSpent answers a used or invalid code: with a valid session the
// visitor simply continues; otherwise authorization restarts silently,
// once; a second failure shows a page instead of a loop.
func (l *logins) codeSpent(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, ref string) error {
	if l.resumable(r, fl, f) {
		procMetrics.loginCompleted(f.Scope, loginResumed)
		l.cookies.expire(w, site, f.State)
		redirect(w, r, f.Return)
		return nil
	}
	if !f.Retry {
		return l.restart(w, r, site, fl, f)
	}
	return l.finish(w, r, site, fl, f, loginEnd{ending: endCodeFailed, ref: ref})
}

// codeFailed handles a code WeChat would not redeem. A used or invalid code
// comes from a double callback, a refresh or the back button (codeSpent).
func (l *logins) codeFailed(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, err error) error {
	ref := "errcode " + strconv.Itoa(wechat.Code(err))
	if wechat.IsCodeUsed(err) || wechat.IsInvalidCode(err) {
		return l.codeSpent(w, r, site, fl, f, ref)
	}
	if errors.Is(err, wechat.ErrRedirect) {
		// Following it would have sent the secret and the code elsewhere.
		if ce := l.logger.Check(zap.ErrorLevel, "the code exchange was answered with an HTTP redirect, which is never followed: set api_base to WeChat's API (or remove it for the default)"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return l.finish(w, r, site, fl, f, loginEnd{ending: endMisconfigured, ref: "api_base redirect"})
	}
	if wechat.IsConfig(err) {
		if ce := l.logger.Check(zap.ErrorLevel, "WeChat refused the code exchange: fix the configuration"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		return l.finish(w, r, site, fl, f, loginEnd{ending: endMisconfigured, ref: ref})
	}
	if ce := l.logger.Check(zap.WarnLevel, "code exchange failed"); ce != nil {
		ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
	}
	return l.finish(w, r, site, fl, f, loginEnd{ending: endUnavailable})
}

// legacyFlowKind is the kind a flow cookie of a version before kinds
// decodes with.
const legacyFlowKind flowKind = 0

// legacyAdopter is a flow that recognises the logins an older version
// started for it, from what their flow cookies carry.
type legacyAdopter interface {
	adopts(f flowState) bool
}

// adopt is the flow an older version's flow cookie belongs to, or nil.
func (l *logins) adopt(f flowState) signInFlow {
	for _, fl := range l.flows {
		if a, ok := fl.(legacyAdopter); ok && a.adopts(f) {
			return fl
		}
	}
	return nil
}

// What every flow does with WeChat's answer to a code: check the ids, and
// fetch the profile where the scope gives one.

// validIdentity reports whether WeChat's openid (and unionid, if any) are
// WeChat identifiers; anything else means api_base does not point at
// WeChat, and is logged so.
func validIdentity(openID, unionID string, logger *zap.Logger) bool {
	if validWeChatID(openID) && (unionID == "" || validWeChatID(unionID)) {
		return true
	}
	if ce := logger.Check(zap.ErrorLevel, "WeChat returned an openid or unionid that is not a WeChat identifier; check api_base points at WeChat"); ce != nil {
		ce.Write()
	}
	return false
}

// fillProfile fetches nickname and avatar with a web access_token and
// reports whether it could. If WeChat fails here the visitor still gets a
// session (without the profile) rather than none, and is not sent round
// again for upgradeBackoff.
func fillProfile(ctx context.Context, client *wechat.Client, s *Session, tok *wechat.Token, now func() time.Time, logger *zap.Logger) bool {
	info, err := client.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN")
	if err != nil {
		if ce := logger.Check(zap.WarnLevel, "fetching userinfo failed; continuing with a snsapi_base session"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		procMetrics.callbackFailed(wechat.Code(err))
		s.NoUpgradeUntil = now().Add(upgradeBackoff).Unix()
		return false
	}
	s.Nickname = info.Nickname
	if cleanAvatarURL(info.HeadImgURL) {
		s.Avatar = info.HeadImgURL
	}
	if s.UnionID == "" && validWeChatID(info.UnionID) {
		s.UnionID = info.UnionID
	}
	return true
}
