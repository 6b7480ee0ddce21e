package wechatauth

// The label values of caddy_wechat_* metrics (metrics.go).

// Bounded label values. Each enum indexes a pre-resolved counter array; its
// names are a keyed array (as go/token's), so a value inserted later cannot
// shift the labels of the ones after it, and TestMetricsLabelTables checks
// every table has one non-empty, unique label per value.

type scopeLabel uint8

const (
	scopeLabelBase scopeLabel = iota
	scopeLabelUserInfo
	scopeLabelLogin   // desktop_login: the website app's scan-to-login
	scopeLabelUnknown // a callback whose flow is lost: the scope is unknown
	numScopeLabels
)

var scopeLabelNames = [...]string{
	scopeLabelBase:     "snsapi_base",
	scopeLabelUserInfo: "snsapi_userinfo",
	scopeLabelLogin:    "snsapi_login",
	scopeLabelUnknown:  "unknown",
}

type loginTrigger uint8

const (
	triggerPage        loginTrigger = iota // a protected page without a (sufficient) session
	triggerLogin                           // {path_prefix}/login
	triggerForwardAuth                     // {path_prefix}/auth for another proxy
	triggerRetry                           // a silent restart after a used or invalid code
	triggerRelay                           // on a relay, a login for one of its relay_for sites
	numLoginTriggers
)

var loginTriggerNames = [...]string{
	triggerPage:        "page",
	triggerLogin:       "login",
	triggerForwardAuth: "forward_auth",
	triggerRetry:       "retry",
	triggerRelay:       "relay",
}

type loginCompletion uint8

const (
	loginSuccess       loginCompletion = iota // session issued with the requested scope
	loginDegraded                             // snsapi_userinfo asked, userinfo failed: snsapi_base session
	loginResumed                              // repeated callback with a valid session: continued
	loginRetried                              // used/invalid code: authorization restarted silently
	loginDeclined                             // the user declined consent (no code)
	loginSnapshot                             // snapshot-page virtual user: no session
	loginCodeRejected                         // used/invalid code again after the retry: error page
	loginFlowLost                             // no flow cookie for this state (or expired): error page
	loginWeChatError                          // WeChat failed or was unreachable
	loginConfigError                          // WeChat refused the configuration (AppID, secret, IP whitelist)
	loginInternalError                        // sealing a cookie failed
	loginRefused                              // who signed in may not enter (wecom: not a member, outside the visible range, not allowed)
	numLoginCompletions
)

var loginCompletionNames = [...]string{
	loginSuccess:       "success",
	loginDegraded:      "degraded",
	loginResumed:       "resumed",
	loginRetried:       "retried",
	loginDeclined:      "declined",
	loginSnapshot:      "snapshot",
	loginCodeRejected:  "code_rejected",
	loginFlowLost:      "flow_lost",
	loginWeChatError:   "wechat_error",
	loginConfigError:   "config_error",
	loginInternalError: "internal_error",
	loginRefused:       "refused",
}

type cookieCheck uint8

const (
	cookieMemoHit         cookieCheck = iota // cookie seen before: a memory lookup
	cookieVerified                           // cookie verified, decrypted and decoded
	cookieRejectInvalid                      // signature, encryption or encoding wrong (tampered, other keys, garbage)
	cookieRejectMalformed                    // authentic but an unreadable payload
	cookieRejectForeign                      // issued for another app_id
	cookieRejectExpired                      // past its expiry
	cookieRejectFuture                       // issued in the future (clock skew beyond a minute)
	cookieRejectRevoked                      // revoked (logout elsewhere, the store)
	numCookieChecks
)

var cookieCheckLabels = [...][2]string{
	cookieMemoHit:         {"memo_hit", ""},
	cookieVerified:        {"verified", ""},
	cookieRejectInvalid:   {"rejected", "invalid"},
	cookieRejectMalformed: {"rejected", "malformed"},
	cookieRejectForeign:   {"rejected", "foreign_app"},
	cookieRejectExpired:   {"rejected", "expired"},
	cookieRejectFuture:    {"rejected", "not_yet_valid"},
	cookieRejectRevoked:   {"rejected", "revoked"},
}

type lookupResult uint8

const (
	lookupCacheHit lookupResult = iota
	lookupFollower
	lookupNotFollower
	lookupError
	numLookupResults
)

var lookupResultNames = [...]string{
	lookupCacheHit:    "cache_hit",
	lookupFollower:    "follower",
	lookupNotFollower: "not_follower",
	lookupError:       "error",
}

// verdictNames label the policy's verdicts (policy.go); a sign-in is
// labelled by its flow instead (metricsSet.decided).
var verdictNames = [...]string{
	admit:           "admit",
	admitAnonymous:  "admit_anonymous",
	outsideWeChat:   "outside_wechat",
	signInAPI:       "sign_in_api",
	signInForm:      "sign_in_form",
	signIn:          "sign_in",
	notFollower:     "not_follower",
	followerUnknown: "follower_unknown",
}

type ticketResult uint8

const (
	ticketFetched ticketResult = iota // getticket answered with a ticket
	ticketFailed                      // getticket failed
	ticketHeldOff                     // not asked: a recent failure holds fetches off
	numTicketResults
)

var ticketResultNames = [...]string{
	ticketFetched: "fetched",
	ticketFailed:  "failed",
	ticketHeldOff: "held_off",
}

type signatureResult uint8

const (
	signatureSigned         signatureResult = iota
	signatureBadRequest                     // no url, not a URL, wrong method
	signatureRefusedURL                     // not this site's host nor a jssdk_domains entry
	signatureRefusedOrigin                  // called from a page of another origin
	signatureTicketUnusable                 // no jsapi_ticket could be had
	numSignatureResults
)

var signatureResultNames = [...]string{
	signatureSigned:         "signed",
	signatureBadRequest:     "bad_request",
	signatureRefusedURL:     "refused_url",
	signatureRefusedOrigin:  "refused_origin",
	signatureTicketUnusable: "ticket_unavailable",
}

type revocationEvent uint8

const (
	revocationPublished revocationEvent = iota // this process revoked a session
	revocationReceived                         // a revocation arrived over the store's channel (this process's own too)
	numRevocationEvents
)

var revocationEventNames = [...]string{
	revocationPublished: "published",
	revocationReceived:  "received",
}

// Every label table has exactly one entry per value of its enum: a value
// added without a label fails to compile here rather than counting under
// an empty or shifted label.
var (
	_ [len(scopeLabelNames) - int(numScopeLabels)]struct{}
	_ [int(numScopeLabels) - len(scopeLabelNames)]struct{}
	_ [len(loginTriggerNames) - int(numLoginTriggers)]struct{}
	_ [int(numLoginTriggers) - len(loginTriggerNames)]struct{}
	_ [len(loginCompletionNames) - int(numLoginCompletions)]struct{}
	_ [int(numLoginCompletions) - len(loginCompletionNames)]struct{}
	_ [len(cookieCheckLabels) - int(numCookieChecks)]struct{}
	_ [int(numCookieChecks) - len(cookieCheckLabels)]struct{}
	_ [len(lookupResultNames) - int(numLookupResults)]struct{}
	_ [int(numLookupResults) - len(lookupResultNames)]struct{}
	_ [len(verdictNames) - int(numVerdicts)]struct{}
	_ [int(numVerdicts) - len(verdictNames)]struct{}
	_ [len(ticketResultNames) - int(numTicketResults)]struct{}
	_ [int(numTicketResults) - len(ticketResultNames)]struct{}
	_ [len(signatureResultNames) - int(numSignatureResults)]struct{}
	_ [int(numSignatureResults) - len(signatureResultNames)]struct{}
	_ [len(revocationEventNames) - int(numRevocationEvents)]struct{}
	_ [int(numRevocationEvents) - len(revocationEventNames)]struct{}
)
