package wechatauth

import (
	"context"
	"net/http"
)

// The ways of signing in (docs/architecture.md). Each is a signInFlow,
// chosen when the handler is provisioned: the Official Account's web
// authorization (flow_mp.go), the website app's QR login (flow_desktop.go),
// the relay client (flow_relay_client.go) and, on a relay, the logins it
// runs for its clients (flow_relayed.go). The shared code — the state and
// flow cookie, the callback's checks, finishing a login into a session or a
// page (login.go, callback.go) — reaches them only through these
// interfaces and knows none of them by name; a new way of signing in is a
// new file.

// flowKind names a flow in the flow cookie, so the request that ends a
// login (WeChat's callback, a relay's hand-back) is handled by the flow
// that started it. Each flow's file defines its own; 0 is a flow cookie
// from a version before kinds, which restarts its login.
type flowKind byte

// signInFlow is one way of signing in.
type signInFlow interface {
	// kind is what the flow cookie records for this flow.
	kind() flowKind
	// serves reports whether this flow signs in the visitor of r when a
	// protected page needs a session (e.g. a browser inside WeChat, or one
	// on a desktop computer). When no flow serves a request, non_wechat
	// decides what it gets.
	serves(r *http.Request) bool
	// loginScope is the scope a login of this flow asks for when the route
	// needs requested.
	loginScope(requested string) string
	// begin returns where the browser goes to start f, whose state is
	// already sealed in its flow cookie: WeChat's authorize page, the
	// website app's QR page, the relay.
	begin(site origin, f flowState) (string, error)
	// owns reports whether s is a session of this flow's app, and what
	// X-WeChat-Source it then carries. A cookie no flow owns is refused.
	owns(s *Session) (source *appSource, ok bool)
	// label names the flow's sign-ins in caddy_wechat_decisions_total
	// (sign_in, sign_in_desktop).
	label() string
}

// codeFlow is a flow whose logins end at WeChat's callback with a code.
type codeFlow interface {
	signInFlow
	// codeApp is the AppID the flow's codes are issued to; it namespaces
	// the code's claim in the store.
	codeApp() string
	// redeem turns a callback's code into how the login ended. An error is
	// a code WeChat refused (callback.go sorts used, misconfigured and
	// unavailable); a loginEnd is everything else.
	redeem(ctx context.Context, f flowState, code string) (loginEnd, error)
}

// finisher is a flow that ends its logins itself rather than issuing a
// session here: the relay hands each back to the client it ran for.
type finisher interface {
	finish(w http.ResponseWriter, r *http.Request, site origin, f flowState, end loginEnd) error
}

// routedFlow is a flow with endpoints of its own under path_prefix.
type routedFlow interface {
	routes(add func(name string, e endpoint))
}

// siteGuard is a flow that signs in on some origins only: a relay client
// builds its hand-back URL from its relay_key origins, never from the Host
// header. The dispatcher asks it before any endpoint uses the origin.
type siteGuard interface {
	refuseSite(w http.ResponseWriter, r *http.Request, o origin) bool
}
