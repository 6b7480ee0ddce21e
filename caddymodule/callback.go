package wechatauth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The end of a login: WeChat's callback, the code exchange, and the one
// place (finishLogin) that turns how it went into a session or a page.

// serveCallback is WeChat's redirect_uri. The state is checked against this
// browser's flow cookie before the code is redeemed: a callback whose state
// this browser did not start (login CSRF) never logs it in.
func (h *Handler) serveCallback(w http.ResponseWriter, r *http.Request) {
	site, ok := h.site(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	if !validState(state) {
		procMetrics.loginCompleted("", loginFlowLost)
		h.writeFlowLost(w, site)
		return
	}
	f, ok := h.readFlow(r, state)
	// A relay client never sends anyone to WeChat: a flow of its own
	// arriving here was not started by WeChat's authorize page.
	if !ok || f.ViaRelay || h.clientFor(f) == nil {
		procMetrics.loginCompleted("", loginFlowLost)
		h.writeFlowLost(w, site)
		return
	}
	if f.Done {
		// A refresh or back button after a finished login.
		if id := h.identityFrom(r); id != nil && f.RelayBack == "" && h.scopeSatisfied(&id.sess, f.Scope) {
			procMetrics.loginCompleted(f.Scope, loginResumed)
			redirect(w, r, f.Return)
			return
		}
		procMetrics.loginCompleted(f.Scope, loginRetried)
		h.expireCookie(w, site, h.flowCookieName(state))
		h.startFlow(w, r, site, f.retried(), triggerRetry)
		return
	}
	if code == "" {
		h.finishLogin(w, r, site, f, authResult{outcome: outcomeDeclined})
		return
	}
	if len(code) > 512 {
		procMetrics.loginCompleted(f.Scope, loginCodeRejected)
		h.writeFlowLost(w, site)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	res, answered := h.redeemOnce(ctx, h.sessionAppID(f.Scope), code, f.State,
		func() (authResult, bool) { return h.exchange(ctx, w, r, site, f, code) },
		func() (authResult, bool) {
			// Another login state redeemed this code: to this browser it
			// is a used code, whatever the claim holds (a replayed callback
			// URL never carries another browser's session away).
			if ce := h.logger.Check(zap.InfoLevel, "a callback carried a code another login redeemed; answered as a used code"); ce != nil {
				ce.Write()
			}
			h.codeSpent(w, r, site, f, "errcode 40163")
			return authResult{}, true
		})
	if answered {
		return
	}
	h.finishLogin(w, r, site, f, res)
}

// authResult is how an authorization ended: a session to issue, or an
// outcome without one. On a relay it travels to the client in the hand-back.
type authResult struct {
	outcome loginOutcome
	sess    Session // outcomeSession: who; Issued and Expires are set here
	ref     string  // a short reference for the page (errcode N)
}

// finishLogin ends a flow. A relay flow is handed back to its client, which
// calls finishLogin in turn with the same result; so a visitor sees the same
// pages, and gets the same session, through a relay as on one site.
func (h *Handler) finishLogin(w http.ResponseWriter, r *http.Request, site origin, f flowState, res authResult) {
	if f.RelayBack != "" {
		h.handBackTo(w, r, site, f, res)
		return
	}
	result := loginResultOf(res)
	name := h.flowCookieName(f.State)
	retry := h.loginURL(site, f.Return, f.Scope)
	if res.outcome != outcomeSession {
		h.expireCookie(w, site, name)
		// Every other outcome ends here with a page: count it once.
		procMetrics.loginCompleted(f.Scope, result)
	}
	switch res.outcome {
	case outcomeSession:
		now := h.now()
		s := res.sess
		s.AppID, s.Issued, s.Expires = h.sessionAppID(s.Scope), now.Unix(), now.Add(h.ttl).Unix()
		s.IssuedMilli = now.UnixMilli()
		if s.ID == "" { // a hand-back from a relay of an older version
			s.ID = randomAlnum(sessionIDLen)
		}
		if err := h.setSession(w, site, s); err != nil {
			if ce := h.logger.Check(zap.ErrorLevel, "sealing the session cookie failed"); ce != nil {
				ce.Write(zap.Error(err))
			}
			procMetrics.loginCompleted(f.Scope, loginInternalError)
			writeInternal(w)
			return
		}
		procMetrics.loginCompleted(f.Scope, result)
		f.Done = true
		if err := h.setFlow(w, site, f, doneFlowTTL); err != nil {
			h.expireCookie(w, site, name)
		}
		redirect(w, r, f.Return)
	case outcomeDeclined:
		h.writeDeclined(w, r, f, retry)
	case outcomeSnapshot:
		h.writeSitePage(w, http.StatusOK, "snapshot", page{Title: "请使用完整服务", ActionURL: retry})
	case outcomeCodeFailed:
		writePage(w, http.StatusBadRequest, "error", page{
			Heading:     "授权已失效",
			Lines:       []string{"微信返回的授权码已被使用或已过期，自动重试也没有成功。请点击下方按钮重新进入；如果仍然不行，请关闭页面后从公众号菜单重新打开。"},
			ActionURL:   retry,
			ActionLabel: "重新进入",
			Ref:         res.ref,
		})
	case outcomeMisconfigured:
		writePage(w, http.StatusBadGateway, "error", page{
			Heading:     "网站的微信登录配置有误",
			Lines:       []string{"这不是你的问题：网站的微信公众号配置（AppID、AppSecret 或 IP 白名单）有误，暂时无法登录。请稍后再试，或联系网站管理员。"},
			ActionURL:   retry,
			ActionLabel: "重试",
			Ref:         res.ref,
		})
	default:
		writeWeChatDown(w, retry)
	}
}

// exchange redeems a callback's code with WeChat. When WeChat refuses the
// code, codeFailed answers the visitor and answered is true; otherwise the
// result is a session (with a new id) or an outcome without one.
func (h *Handler) exchange(ctx context.Context, w http.ResponseWriter, r *http.Request, site origin, f flowState, code string) (res authResult, answered bool) {
	client := h.clientFor(f)
	tok, err := client.ExchangeCode(ctx, code)
	if err != nil {
		procMetrics.callbackFailed(wechat.Code(err))
		h.codeFailed(w, r, site, f, err)
		return authResult{}, true
	}
	if tok.Snapshot() {
		// A snapshot page's openid is virtual: no session, no identity.
		return authResult{outcome: outcomeSnapshot}, false
	}
	// The code exchange carries a unionid for snsapi_userinfo only; a
	// snsapi_base visitor's unionid comes from user/info (subscriber_info).
	// A website app's snsapi_login token carries it, and reaches userinfo, too.
	userInfo := strings.Contains(tok.Scope, wechat.ScopeUserInfo) || f.Scope == wechat.ScopeLogin
	unionID := ""
	if userInfo {
		unionID = tok.UnionID
	}
	if !validWeChatID(tok.OpenID) || (unionID != "" && !validWeChatID(unionID)) {
		if ce := h.logger.Check(zap.ErrorLevel, "WeChat returned an openid or unionid that is not a WeChat identifier; check api_base points at WeChat"); ce != nil {
			ce.Write()
		}
		return authResult{outcome: outcomeUnavailable}, false
	}
	// Every session has its own id, so a logout can end exactly it.
	s := Session{AppID: h.AppID, OpenID: tok.OpenID, UnionID: unionID, Scope: wechat.ScopeBase, ID: randomAlnum(sessionIDLen)}
	if f.Scope == wechat.ScopeLogin {
		s.AppID, s.Scope = h.sessionAppID(f.Scope), wechat.ScopeLogin
	}
	if userInfo {
		h.fillProfile(ctx, client, &s, tok)
	}
	if !h.requireUnionID(&s) {
		return authResult{outcome: outcomeMisconfigured, ref: "no unionid"}, false
	}
	return authResult{outcome: outcomeSession, sess: s}, false
}

// loginResultOf labels how a login ended for metrics; a session whose
// profile could not be fetched (NoUpgradeUntil set) is "degraded".
func loginResultOf(res authResult) loginResult {
	switch res.outcome {
	case outcomeSession:
		if res.sess.NoUpgradeUntil != 0 {
			return loginDegraded
		}
		return loginSuccess
	case outcomeDeclined:
		return loginDeclined
	case outcomeSnapshot:
		return loginSnapshot
	case outcomeCodeFailed:
		return loginCodeRejected
	case outcomeMisconfigured:
		return loginConfigError
	}
	return loginWeChatError
}

// fillProfile fetches nickname and avatar for a snsapi_userinfo login. If
// WeChat fails here the visitor still gets a session (base scope) rather
// than none, and is not sent round again for upgradeBackoff.
func (h *Handler) fillProfile(ctx context.Context, client *wechat.Client, s *Session, tok *wechat.Token) {
	info, err := client.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN")
	if err != nil {
		if ce := h.logger.Check(zap.WarnLevel, "fetching userinfo failed; continuing with a snsapi_base session"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		procMetrics.callbackFailed(wechat.Code(err))
		s.NoUpgradeUntil = h.now().Add(upgradeBackoff).Unix()
		return
	}
	if s.Scope != wechat.ScopeLogin {
		s.Scope = wechat.ScopeUserInfo
	}
	s.Nickname = info.Nickname
	if cleanAvatarURL(info.HeadImgURL) {
		s.Avatar = info.HeadImgURL
	}
	if s.UnionID == "" && validWeChatID(info.UnionID) {
		s.UnionID = info.UnionID
	}
}

// codeSpent answers a used or invalid code: with a valid session the
// visitor simply continues; otherwise authorization restarts silently,
// once; a second failure shows a page instead of a loop.
func (h *Handler) codeSpent(w http.ResponseWriter, r *http.Request, site origin, f flowState, ref string) {
	name := h.flowCookieName(f.State)
	if id := h.identityFrom(r); id != nil && f.RelayBack == "" && h.scopeSatisfied(&id.sess, f.Scope) {
		procMetrics.loginCompleted(f.Scope, loginResumed)
		h.expireCookie(w, site, name)
		redirect(w, r, f.Return)
		return
	}
	if !f.Retry {
		procMetrics.loginCompleted(f.Scope, loginRetried)
		h.expireCookie(w, site, name)
		h.startFlow(w, r, site, f.retried(), triggerRetry)
		return
	}
	h.finishLogin(w, r, site, f, authResult{outcome: outcomeCodeFailed, ref: ref})
}

// codeFailed handles a code WeChat would not redeem. A used or invalid code
// comes from a double callback, a refresh or the back button (codeSpent).
func (h *Handler) codeFailed(w http.ResponseWriter, r *http.Request, site origin, f flowState, err error) {
	ref := "errcode " + strconv.Itoa(wechat.Code(err))
	if wechat.IsCodeUsed(err) || wechat.IsInvalidCode(err) {
		h.codeSpent(w, r, site, f, ref)
		return
	}
	if errors.Is(err, wechat.ErrRedirect) {
		// Following it would have sent the secret and the code elsewhere.
		if ce := h.logger.Check(zap.ErrorLevel, "the code exchange was answered with an HTTP redirect, which is never followed: set api_base to WeChat's API (or remove it for the default)"); ce != nil {
			ce.Write(zap.Error(err))
		}
		h.finishLogin(w, r, site, f, authResult{outcome: outcomeMisconfigured, ref: "api_base redirect"})
		return
	}
	if wechat.IsConfig(err) {
		if ce := h.logger.Check(zap.ErrorLevel, "WeChat refused the code exchange: fix the configuration"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		h.finishLogin(w, r, site, f, authResult{outcome: outcomeMisconfigured, ref: ref})
		return
	}
	if ce := h.logger.Check(zap.WarnLevel, "code exchange failed"); ce != nil {
		ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
	}
	h.finishLogin(w, r, site, f, authResult{outcome: outcomeUnavailable})
}
