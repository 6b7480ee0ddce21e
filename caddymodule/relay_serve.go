package wechatauth

import (
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// The relay's endpoints and the client's: how the messages of relay.go move
// through the browser. The login itself — flow cookie, WeChat, code
// exchange, the pages for each way a login ends — is the one of flow.go; the
// relay only changes where a flow starts (startFlow sends a client's browser
// to the relay) and where it ends (finishLogin hands a relay flow back).

// relayRequestURL is where a client sends a browser to sign in: the relay's
// endpoint with this site's origin, in clear so the relay can derive its
// key, and a request sealed with that key naming this site's hand-back URL,
// the flow's state and its scope. The page to return to stays in the flow
// cookie. site is one of the client's relay_key origins (site() refuses
// any other), never a name taken from the Host header alone.
func (h *Handler) relayRequestURL(site origin, f flowState) (string, error) {
	req, err := h.relay.seal.sealRequest(site, relayRequest{Back: site.String() + h.PathPrefix + "/handback", State: f.State, Scope: f.Scope})
	if err != nil {
		return "", err
	}
	return h.relay.endpoint + "?client=" + url.QueryEscape(site.String()) + "&req=" + url.QueryEscape(req), nil
}

// serveRelay is the relay's entry: GET <path_prefix>/relay?client=…&req=….
// It starts the relay's own WeChat authorization for a client that
// relay_for allows and whose key sealed the request.
func (h *Handler) serveRelay(w http.ResponseWriter, r *http.Request) {
	if h.relay == nil || len(h.relay.rules) == 0 {
		writeNotFound(w)
		return
	}
	site, ok := h.site(w, r)
	if !ok {
		return
	}
	query := r.URL.Query()
	client, ok := parseOrigin(query.Get("client"))
	if ok && !h.relay.admits(client) {
		h.refuseClient(w, client.String())
		return
	}
	var q relayRequest
	err := errRelayInvalid
	if ok {
		q, err = h.relay.seal.openRequest(client, query.Get("req"))
	}
	if err != nil {
		writePage(w, http.StatusBadRequest, "error", page{
			Heading: "登录请求无效",
			Lines: []string{
				"这个登录请求已超过 10 分钟，或不是由本站服务的网站发起的，所以无法继续。",
				"请返回原来的网页重新打开；如果反复出现，请从公众号菜单重新进入。",
			},
		})
		return
	}
	if target, ok := relayTarget(q.Back, h.relay.rules); !ok || target != client {
		h.refuseClient(w, q.Back)
		return
	}
	h.startFlow(w, r, site, flowState{Return: "/", Scope: q.Scope, RelayBack: q.Back, RelayState: q.State}, triggerRelay)
}

// admits reports whether relay_for lists the client at o.
func (rs *relayState) admits(o origin) bool {
	host, port := splitHostPort(o.Host, o.Scheme)
	for _, r := range rs.rules {
		if r.allows(o.Scheme, host, port) {
			return true
		}
	}
	return false
}

// refuseClient answers a login for a site relay_for does not list, and
// tells the operator which host that was.
func (h *Handler) refuseClient(w http.ResponseWriter, back string) {
	host := back
	if u, err := url.Parse(back); err == nil && u.Host != "" {
		host = u.Host
	}
	if ce := h.logger.Check(zap.WarnLevel, "refused a login for a site this relay does not serve: add its host to relay_for if it should be"); ce != nil {
		ce.Write(zap.String("client", host))
	}
	writePage(w, http.StatusForbidden, "error", page{
		Heading: "此网站未获登录授权",
		Lines: []string{
			"这个登录中转站不为 " + host + " 提供微信登录，所以没有继续。",
			"请从公众号菜单重新打开页面；如果仍然出现，请联系网站管理员。",
		},
	})
}

// handBackTo ends a relay flow: the browser goes back to the client with
// how the login ended, sealed. The target is checked against relay_for
// again, since the configuration may have changed since the flow started.
func (h *Handler) handBackTo(w http.ResponseWriter, r *http.Request, site origin, f flowState, res authResult) {
	target, ok := relayTarget(f.RelayBack, h.relay.rules)
	if !ok {
		h.refuseClient(w, f.RelayBack)
		return
	}
	v, err := h.relay.seal.sealHandBack(target, handBack{State: f.RelayState,
		Outcome: res.outcome, Ref: res.ref, Identity: res.sess})
	if err != nil {
		if ce := h.logger.Check(zap.ErrorLevel, "sealing a relay hand-back failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		writeInternal(w)
		return
	}
	f.Done = true
	if err := h.setFlow(w, site, f, doneFlowTTL); err != nil {
		h.expireCookie(w, site, h.flowCookieName(f.State))
	}
	redirect(w, r, f.RelayBack+"?hb="+url.QueryEscape(v))
}

// serveHandBack is the client's end of the relay: GET
// <path_prefix>/handback?hb=…. The hand-back must be sealed with this
// site's relay key for this site, fresh, unspent, and carry the state of a
// relay flow this browser started; then the login ends here as on a single
// site, with this site's own session_keys.
func (h *Handler) serveHandBack(w http.ResponseWriter, r *http.Request) {
	if h.relay == nil || h.relay.endpoint == "" {
		writeNotFound(w)
		return
	}
	site, ok := h.site(w, r)
	if !ok {
		return
	}
	hb, err := h.relay.seal.openHandBack(site, r.URL.Query().Get("hb"))
	if err != nil {
		h.refuseHandBack(w, site, "opened", err)
		return
	}
	// Spent at first sight, whatever follows: the browser it was meant for
	// follows it at once, so a copy seen later is worth nothing.
	fresh, err := h.relay.claims.claim(r.Context(), handBackClaimKey(hb.ID), handBackClaimTTL)
	if err != nil {
		if ce := h.logger.Check(zap.ErrorLevel, "could not record a relay hand-back as spent; refusing it"); ce != nil {
			ce.Write(zap.Error(err))
		}
		writeWeChatDown(w, h.loginURL(site, "/", h.Scope))
		return
	}
	f, flowOK := h.readFlow(r, hb.State)
	flowOK = flowOK && f.ViaRelay
	if !fresh {
		// A refresh in the browser that finished this login continues.
		if flowOK && f.Done {
			if id := h.identityFrom(r); id != nil && h.scopeSatisfied(&id.sess, f.Scope) {
				redirect(w, r, f.Return)
				return
			}
		}
		h.refuseHandBack(w, site, "spent", errHandBackSpent)
		return
	}
	if flowOK && f.Done {
		// A second hand-back for a finished login: the relay's callback was
		// refreshed or called twice. With its session the visitor continues.
		if id := h.identityFrom(r); id != nil && h.scopeSatisfied(&id.sess, f.Scope) {
			redirect(w, r, f.Return)
			return
		}
	}
	if !flowOK || f.Done {
		h.writeFlowLost(w, site)
		return
	}
	h.finishLogin(w, r, site, f, authResult{outcome: hb.Outcome, sess: hb.Identity, ref: hb.Ref})
}

var errHandBackSpent = errors.New("the hand-back was already used")

func (h *Handler) refuseHandBack(w http.ResponseWriter, site origin, why string, err error) {
	if ce := h.logger.Check(zap.InfoLevel, "refused a relay hand-back"); ce != nil {
		ce.Write(zap.String("why", why), zap.Error(err))
	}
	p := page{
		Heading:     "登录凭证无效",
		Lines:       []string{"这次登录的凭证无效，不能用于登录本站。请点击下方按钮重新登录。"},
		ActionURL:   h.loginURL(site, "/", h.Scope),
		ActionLabel: "重新登录",
	}
	switch err {
	case errRelayExpired:
		p.Heading = "登录凭证已过期"
		p.Lines = []string{"登录凭证的有效期只有 1 分钟，已经过期。请点击下方按钮重新登录。"}
	case errHandBackSpent:
		p.Heading = "登录凭证已使用"
		p.Lines = []string{"这份登录凭证已经用过，每份只能使用一次。请点击下方按钮重新登录。"}
	}
	writePage(w, http.StatusBadRequest, "error", p)
}

// refuseUnkeyedSite answers a relay client's request on an origin it holds
// no relay_key for: it cannot tell the relay where to hand the login back
// without taking a name from the Host header, so it does not start one.
func (h *Handler) refuseUnkeyedSite(w http.ResponseWriter, o origin) {
	if ce := h.logger.Check(zap.WarnLevel, "a relay client got a request for an origin it has no relay_key for: if this origin is the site's, add relay_key <origin> <key> (caddy wechat-relay-key on the relay prints it)"); ce != nil {
		ce.Write(zap.String("origin", o.String()))
	}
	writePage(w, http.StatusForbidden, "error", page{
		Heading: "此网址未配置微信登录",
		Lines: []string{
			"本站没有为 " + o.Host + " 配置经登录中转站的微信登录，所以无法在这个网址登录。",
			"请检查地址栏中的网址，或从公众号菜单重新打开页面；如果仍然出现，请联系网站管理员。",
		},
	})
}
