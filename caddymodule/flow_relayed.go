package wechatauth

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// On a relay (relay_for, docs/relay.md): the logins it runs for its client
// sites. Each is the Official Account's web authorization (it embeds the
// relay's mpFlow: same authorize page, same code exchange), started by a
// client's sealed request at /relay and ended not with a session here but
// with a hand-back sealed for the client (relay.go). The WeChat code and
// access tokens never leave the relay.

// kindRelayed is a login the relay runs for a client, in the flow cookie.
const kindRelayed flowKind = 4

// relayedFlow is the relay's side of a client's login.
type relayedFlow struct {
	*mpFlow
	seal   *relaySeal
	rules  []domainRule // relay_for
	logins *logins
}

func (rf *relayedFlow) kind() flowKind { return kindRelayed }

// serves no protected page: only a client's request at /relay starts it.
func (rf *relayedFlow) serves(*http.Request) bool { return false }

// owns no session: the ones it signs in live on the clients.
func (rf *relayedFlow) owns(*Session) (*appSource, bool) { return nil, false }

// adopts an older version's flow cookie of a relayed login.
func (rf *relayedFlow) adopts(f flowState) bool { return f.RelayBack != "" }

func (rf *relayedFlow) routes(add func(string, endpoint)) { add("relay", rf.serveRelay) }

// serveRelay is the relay's entry: GET <path_prefix>/relay?client=…&req=….
// It starts the relay's own WeChat authorization for a client that
// relay_for allows and whose key sealed the request.
func (rf *relayedFlow) serveRelay(w http.ResponseWriter, r *http.Request, site origin) error {
	query := r.URL.Query()
	client, ok := parseOrigin(query.Get("client"))
	if ok && !rf.admits(client) {
		return rf.refuseClient(w, r, client.String())
	}
	var q relayRequest
	err := errRelayInvalid
	if ok {
		q, err = rf.seal.openRequest(client, query.Get("req"))
	}
	if err != nil {
		rf.logins.pages.show(w, r, pageRelayRequest, pageValues{})
		return nil
	}
	if target, ok := relayTarget(q.Back, rf.rules); !ok || target != client {
		return rf.refuseClient(w, r, q.Back)
	}
	return rf.logins.startFlow(w, r, site, rf, flowState{Return: "/", Scope: q.Scope, RelayBack: q.Back, RelayState: q.State}, triggerRelay)
}

// admits reports whether relay_for lists the client at o.
func (rf *relayedFlow) admits(o origin) bool {
	host, port := splitHostPort(o.Host, o.Scheme)
	for _, r := range rf.rules {
		if r.allows(o.Scheme, host, port) {
			return true
		}
	}
	return false
}

// refuseClient answers a login for a site relay_for does not list, and
// tells the operator which host that was.
func (rf *relayedFlow) refuseClient(w http.ResponseWriter, r *http.Request, back string) error {
	host := back
	if u, err := url.Parse(back); err == nil && u.Host != "" {
		host = u.Host
	}
	if ce := rf.logger.Check(zap.WarnLevel, "refused a login for a site this relay does not serve: add its host to relay_for if it should be"); ce != nil {
		ce.Write(zap.String("client", host))
	}
	rf.logins.pages.show(w, r, pageRelayRefused, pageValues{Host: host})
	return nil
}

// finish hands the login back: the browser goes back to the client with
// how the login ended, sealed. The target is checked against relay_for
// again, since the configuration may have changed since the flow started.
func (rf *relayedFlow) finish(w http.ResponseWriter, r *http.Request, site origin, f flowState, end loginEnd) error {
	target, ok := relayTarget(f.RelayBack, rf.rules)
	if !ok {
		return rf.refuseClient(w, r, f.RelayBack)
	}
	v, err := rf.seal.sealHandBack(target, handBack{State: f.RelayState,
		Outcome: end.ending, Ref: end.ref, Identity: end.sess})
	if err != nil {
		if ce := rf.logger.Check(zap.ErrorLevel, "sealing a relay hand-back failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		rf.logins.pages.show(w, r, pageInternal, pageValues{})
		return nil
	}
	f.Done = true
	if err := rf.logins.cookies.set(w, site, f, doneFlowTTL); err != nil {
		rf.logins.cookies.expire(w, site, f.State)
	}
	redirect(w, r, f.RelayBack+"?hb="+url.QueryEscape(v))
	return nil
}
