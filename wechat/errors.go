package wechat

import (
	"errors"
	"fmt"
	"strings"
)

// APIError is an error WeChat reported in its JSON body ({"errcode":N,"errmsg":"…"}).
// Callers branch on Code (or the Is* helpers), never on Msg, whose tail varies.
type APIError struct {
	// Code is WeChat's errcode.
	Code int
	// Msg is errmsg as WeChat sent it, with anything we sent that is secret redacted.
	Msg string
	// Op is the API path, e.g. "/sns/oauth2/access_token"; it never carries the query.
	Op string
}

// Error reads "wechat /sns/oauth2/access_token: errcode 40163 (code been used): <hint>".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat %s: errcode %d", e.Op, e.Code)
	if m := shortMsg(e.Msg); m != "" {
		fmt.Fprintf(&b, " (%s)", m)
	}
	if h := e.Hint(); h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// shortMsg drops the per-request tail (", rid: …", " hint: […]") WeChat appends,
// so log lines of the same failure look the same.
func shortMsg(msg string) string {
	for _, sep := range []string{" rid:", " hint:", ", view more at"} {
		if i := strings.Index(msg, sep); i >= 0 {
			msg = msg[:i]
		}
	}
	return strings.TrimRight(strings.TrimSpace(msg), ",")
}

// hints says what an operator or developer should do about an errcode.
var hints = map[int]string{
	-1:    "WeChat is busy; retry later",
	40001: "the access_token is invalid or stale (or the app secret is wrong); fetch a new token and check app_secret",
	40002: "grant_type is wrong; this is a bug in the caller",
	40003: "the openid does not belong to this app",
	40013: "the app_id is not a valid Official Account AppID; check app_id",
	40014: "the access_token is invalid; fetch a new one",
	40029: "the code is invalid or expired; restart authorization",
	40030: "the refresh_token is invalid; the user must authorize again",
	40033: "the request body contains \\uXXXX escapes; encode JSON with SetEscapeHTML(false)",
	40125: "the app_secret is wrong; copy it again from 公众平台 → 基本配置",
	40163: "the code was already used (double callback, page refresh or back button); restart authorization",
	40164: "add this server's public IP to the account's IP whitelist (公众平台 → 基本配置 → IP白名单)",
	41001: "access_token is missing; this is a bug in the caller",
	41002: "appid is missing; this is a bug in the caller",
	41003: "refresh_token is missing; this is a bug in the caller",
	41004: "secret is missing; this is a bug in the caller",
	41008: "code is missing; this is a bug in the caller",
	41009: "openid is missing; this is a bug in the caller",
	42001: "the access_token expired; fetch a new one",
	42002: "the refresh_token expired; the user must authorize again",
	42003: "the code expired; restart authorization",
	42007: "the user changed their password; the user must authorize again",
	43001: "the API requires GET; this is a bug in the caller",
	43002: "the API requires POST; this is a bug in the caller",
	45009: "the daily API quota is used up; back off and reset it in 公众平台 if needed",
	45011: "the per-minute API quota is used up; back off and retry later",
	46003: "the account has no custom menu",
	47001: "the request body is not valid JSON for this API; this is a bug in the caller",
	48001: "the API is not authorized: userinfo needs scope snsapi_userinfo, or the account lacks this permission",
	50001: "the user has not authorized this API",
	50002: "the user is limited by WeChat",
}

// Hint says what to do about the error, "" when there is nothing specific to say.
func (e *APIError) Hint() string { return hints[e.Code] }

// RequestError is a failure below WeChat's JSON layer: a timeout, a refused connection,
// an HTTP 5xx, a malformed or oversize body. Its text never contains the request URL,
// because WeChat's URLs carry the app secret, codes and tokens in the query.
type RequestError struct {
	// Op is the API path, e.g. "/sns/oauth2/access_token".
	Op string
	// Status is the HTTP status when a response arrived, else 0.
	Status int
	// Err is what went wrong, already stripped of the URL.
	Err error

	// temporary marks failures worth repeating for idempotent calls.
	temporary bool
}

// Error reads "wechat /sns/oauth2/access_token: <what went wrong>".
func (e *RequestError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("wechat %s: HTTP status %d", e.Op, e.Status)
	}
	return fmt.Sprintf("wechat %s: %v", e.Op, e.Err)
}

// Unwrap gives errors.Is access to causes such as context.DeadlineExceeded.
func (e *RequestError) Unwrap() error { return e.Err }

// Code returns the WeChat errcode carried by err, or 0 when err is not an *APIError.
func Code(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// IsCodeUsed reports errcode 40163: the OAuth code was already redeemed.
func IsCodeUsed(err error) bool { return Code(err) == 40163 }

// IsInvalidCode reports an OAuth code WeChat does not know or that expired (40029, 42003).
func IsInvalidCode(err error) bool { c := Code(err); return c == 40029 || c == 42003 }

// IsBusy reports errcode -1, "system busy".
func IsBusy(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == -1
}

// IsTokenInvalid reports an access_token WeChat rejects (40001, 40014, 42001).
func IsTokenInvalid(err error) bool {
	c := Code(err)
	return c == 40001 || c == 40014 || c == 42001
}

// IsQuota reports an exhausted API quota (45009 daily, 45011 per minute).
func IsQuota(err error) bool { c := Code(err); return c == 45009 || c == 45011 }

// IsConfig reports errors an operator must fix in the configuration: a wrong AppID
// (40013) or secret (40125, or 40001 from a basic-token call), or a missing IP
// whitelist entry (40164). Retrying cannot help.
func IsConfig(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case 40013, 40125, 40164:
		return true
	case 40001:
		return ae.Op == pathStableToken || ae.Op == pathToken
	}
	return false
}
