package wechatauth

// What a session cookie and a flow cookie carry. Their wire format is in
// cookies.go, beside the codec that seals it.

// Session is what the session cookie holds about a visitor. It is bound to
// the app that issued it: a cookie of another app_id is refused.
type Session struct {
	AppID    string
	OpenID   string
	UnionID  string
	Scope    string
	Nickname string
	Avatar   string
	// Issued and Expires are Unix seconds. Expires is enforced from inside
	// the cookie, so a cookie replayed with a fresh Max-Age still ends.
	Issued  int64
	Expires int64
	// NoUpgradeUntil (Unix seconds) holds back a scope upgrade after a
	// snsapi_userinfo login fell back to snsapi_base because userinfo failed:
	// without it a persistently failing userinfo call would loop the visitor
	// between the page and WeChat.
	NoUpgradeUntil int64
	// ID names this one session, so a logout can revoke it on every replica
	// (the wechat app's store) without touching the person's other sessions.
	// Random, [A-Za-z0-9]; empty in cookies issued before sessions had ids.
	ID string
	// IssuedMilli is Issued in Unix milliseconds, so a revocation of every
	// session of an openid does not also refuse a sign-in in the same
	// second. Zero in cookies issued before; Issued then stands in.
	IssuedMilli int64
	// Extra is what the flow that issued the session keeps besides the
	// fields above, in that flow's own encoding (WeCom: the member's corp,
	// departments and name, wecom_session.go); "" for the others.
	Extra string
}

// sessionIDLen is the length of a session id: 131 bits from [A-Za-z0-9].
const sessionIDLen = 22

// flowState is one login in progress, kept in a short-lived flow cookie of
// its own so several tabs can authorize at once without overwriting each
// other. The return URL cannot travel in WeChat's state parameter
// (alphanumeric, ≤128 bytes), so it lives here.
type flowState struct {
	State   string // the nonce sent as WeChat's state
	Return  string // validated return URL
	Scope   string // scope requested from WeChat
	Created int64  // Unix seconds
	// Kind is the flow that started the login (signin.go); the request
	// that ends it goes back to that flow.
	Kind flowKind
	// Retry marks a flow started by a silent restart after an invalid or used
	// code: a second failure shows an error page instead of looping.
	Retry bool
	// Done marks a flow whose callback already succeeded; a refresh or back
	// button on the callback URL then continues without redeeming again.
	Done bool
	// RelayBack and RelayState, on a relay, name the client a flow signs in
	// for: its hand-back URL and its own flow's state (flow_relayed.go).
	RelayBack  string
	RelayState string
	// legacyViaRelay is flag 4 of a version-2 flow cookie, which marked a
	// relay client's flow before flows had kinds (legacyAdopter).
	legacyViaRelay bool
}
