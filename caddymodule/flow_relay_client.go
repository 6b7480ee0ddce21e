package wechatauth

import (
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// The relay client (relay <url>, docs/relay.md): a site that signs in
// through a relay instead of WeChat. Its logins begin at the relay's
// /relay endpoint with a request sealed with this site's relay key, and
// end at this site's /handback with the relay's sealed hand-back, which
// must carry the state of a relay flow this browser started (relay.go).

// kindRelayClient is a relay client's flow in the flow cookie.
const kindRelayClient flowKind = 3

// relayClientFlow signs visitors in through the relay.
type relayClientFlow struct {
	appID      string
	source     *appSource // sourceMP for appID
	seal       *relaySeal
	endpoint   string   // the relay's <url>/wechat_auth/relay
	claims     claims   // the hand-backs spent
	origins    []origin // this site's origins, one per relay_key
	outsideToo bool     // non_wechat login
	logins     *logins
	logger     *zap.Logger
}

func (c *relayClientFlow) kind() flowKind { return kindRelayClient }

func (c *relayClientFlow) serves(r *http.Request) bool { return c.outsideToo || isWeChat(r) }

func (c *relayClientFlow) loginScope(requested string) string { return requested }

func (c *relayClientFlow) label() string { return "sign_in" }

// owns the account's sessions, which the relay's hand-backs carry.
func (c *relayClientFlow) owns(s *Session) (*appSource, bool) {
	return c.source, ownsAccountSession(s, c.appID)
}

// adopts an older version's flow cookie of a relay client's login.
func (c *relayClientFlow) adopts(f flowState) bool { return f.legacyViaRelay }

// begin is the relay's endpoint with this site's origin, in clear so the
// relay can derive its key, and a request sealed with that key naming this
// site's hand-back URL, the flow's state and its scope. The page to return
// to stays in the flow cookie. site is one of the client's relay_key
// origins (refuseSite refuses any other), never a name taken from the Host
// header alone.
func (c *relayClientFlow) begin(site origin, f flowState) (string, error) {
	req, err := c.seal.sealRequest(site, relayRequest{Back: c.logins.links.endpoint(site, "handback"), State: f.State, Scope: f.Scope})
	if err != nil {
		return "", err
	}
	return c.endpoint + "?client=" + url.QueryEscape(site.String()) + "&req=" + url.QueryEscape(req), nil
}

func (c *relayClientFlow) routes(add func(string, endpoint)) { add("handback", c.serveHandBack) }

// refuseSite answers a request on an origin the client holds no relay_key
// for: it cannot tell the relay where to hand the login back without
// taking a name from the Host header, so it does not start one.
func (c *relayClientFlow) refuseSite(w http.ResponseWriter, r *http.Request, o origin) bool {
	for _, x := range c.origins {
		if x == o {
			return false
		}
	}
	if ce := c.logger.Check(zap.WarnLevel, "a relay client got a request for an origin it has no relay_key for: if this origin is the site's, add relay_key <origin> <key> (caddy wechat-relay-key on the relay prints it)"); ce != nil {
		ce.Write(zap.String("origin", o.String()))
	}
	c.logins.pages.show(w, r, pageUnkeyedSite, pageValues{Host: o.Host})
	return true
}

// serveHandBack is the client's end of the relay: GET
// <path_prefix>/handback?hb=…. The hand-back must be sealed with this
// site's relay key for this site, fresh, unspent, and carry the state of a
// relay flow this browser started; then the login ends here as on a single
// site, with this site's own session_keys.
func (c *relayClientFlow) serveHandBack(w http.ResponseWriter, r *http.Request, site origin) error {
	l := c.logins
	hb, err := c.seal.openHandBack(site, r.URL.Query().Get("hb"))
	if err != nil {
		return c.refuseHandBack(w, r, site, "opened", err)
	}
	// Spent at first sight, whatever follows: the browser it was meant for
	// follows it at once, so a copy seen later is worth nothing.
	fresh, err := c.claims.claim(r.Context(), handBackClaimKey(hb.ID), handBackClaimTTL)
	if err != nil {
		if ce := c.logger.Check(zap.ErrorLevel, "could not record a relay hand-back as spent; refusing it"); ce != nil {
			ce.Write(zap.Error(err))
		}
		l.pages.show(w, r, pageWeChatDown, pageValues{ActionURL: l.links.loginURL(site, "/", l.links.scope)})
		return nil
	}
	f, flowOK := l.cookies.read(r, hb.State)
	flowOK = flowOK && (f.Kind == kindRelayClient || (f.Kind == legacyFlowKind && c.adopts(f)))
	if flowOK && f.Done && l.resumable(r, c, f) {
		// A refresh in the browser that finished this login, or a second
		// hand-back for it (the relay's callback refreshed or called
		// twice): with its session the visitor continues.
		redirect(w, r, f.Return)
		return nil
	}
	if !fresh {
		return c.refuseHandBack(w, r, site, "spent", errHandBackSpent)
	}
	if !flowOK || f.Done {
		return l.writeFlowLost(w, r, site)
	}
	return l.finish(w, r, site, c, f, loginEnd{ending: hb.Outcome, sess: hb.Identity, ref: hb.Ref})
}

var errHandBackSpent = errors.New("the hand-back was already used")

func (c *relayClientFlow) refuseHandBack(w http.ResponseWriter, r *http.Request, site origin, why string, err error) error {
	if ce := c.logger.Check(zap.InfoLevel, "refused a relay hand-back"); ce != nil {
		ce.Write(zap.String("why", why), zap.Error(err))
	}
	id := pageHandBackInvalid
	switch err {
	case errRelayExpired:
		id = pageHandBackExpired
	case errHandBackSpent:
		id = pageHandBackSpent
	}
	c.logins.pages.show(w, r, id, pageValues{ActionURL: c.logins.links.loginURL(site, "/", c.logins.links.scope)})
	return nil
}
