package wechat

import (
	"errors"
	"fmt"
	"net"
	"regexp"
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

// Where operators fix configuration errors; since 2025 the AppSecret and the
// API IP whitelist live on the 微信开发者平台 (docs/wechat.md §1).
const (
	consoleSecret    = "微信开发者平台 (developers.weixin.qq.com/platform → 公众号 → 开发密钥 AppSecret; formerly 公众平台 → 基本配置)"
	consoleWhitelist = "the API IP whitelist (API IP白名单) on 微信开发者平台 (developers.weixin.qq.com/platform → 公众号; formerly 公众平台 → 基本配置 → IP白名单)"
	// consoleComponentWhitelist is a third-party platform's own IP list, not an Official Account's.
	consoleComponentWhitelist = "the third-party platform's 白名单IP地址列表 (Open Platform console → 第三方平台 → 详情 → 开发资料)"
	menuRuleHint              = "the menu breaks WeChat's menu rules; check it offline with wechat.ValidateMenu (caddy wechat-menu validate FILE) to see which button"
)

// hints says what an operator or developer should do about an errcode. It is
// the one table of the project: the CLI and the module print Hint().
var hints = map[int]string{
	-1:    "WeChat is busy; retry later",
	40001: "the access_token is invalid or stale (or the app secret is wrong); fetch a new token and check app_secret against " + consoleSecret,
	40002: "grant_type is wrong; this is a bug in the caller",
	40003: "the openid does not belong to this app",
	40007: "an article_id or media_id does not exist in this account; copy it again from 公众平台",
	40013: "the app_id is not a valid Official Account AppID; copy app_id from " + consoleSecret,
	40014: "the access_token is invalid; fetch a new one",
	40029: "the code is invalid or expired; restart authorization",
	40030: "the refresh_token is invalid; the user must authorize again",
	40033: "the request body contains \\uXXXX escapes; encode JSON with SetEscapeHTML(false)",
	40054: "WeChat does not accept a sub-button's url domain; use a public http(s) domain",
	40055: "WeChat does not accept a button's url domain; use a public http(s) domain",
	40125: "the app_secret is wrong; copy it again (or reset it) on " + consoleSecret + " and update app_secret",
	40163: "the code was already used (double callback, page refresh or back button); restart authorization",
	40164: "add this server's public egress IP to " + consoleWhitelist + "; retrying cannot help until then",
	40165: "the mini-program has no such pagepath; check it against the mini-program's app.json",
	40166: "the appid is not a mini-program's AppID; copy it from the mini-program's 公众平台 settings",
	40243: "the AppSecret is frozen; unfreeze or reset it on " + consoleSecret + ", then update app_secret",
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
	45009: "the daily API quota is used up; back off until midnight (Beijing time) or reset it in 公众平台 if needed",
	45011: "the per-minute API quota is used up; back off and retry after a minute",
	45064: "link the mini-program to this Official Account first (公众平台 → 小程序管理 → 关联小程序)",
	46003: "the account has no custom menu",
	47001: "the request body is not valid JSON for this API; this is a bug in the caller",
	48001: "the API is not authorized: userinfo needs scope snsapi_userinfo, or the account lacks this permission",
	50001: "the user has not authorized this API",
	50002: "the user is limited by WeChat",
	61004: "add this server's public egress IP to " + consoleWhitelist + "; retrying cannot help until then",
	61005: "the component_verify_ticket is expired (older than 12 hours); fetch again with the newest ticket pushed to the platform's 授权事件接收URL, and check that pushes arrive",
	61006: "the component_verify_ticket is invalid or not the latest; fetch again with the newest ticket pushed to the platform's 授权事件接收URL",
	65316: "the menu links to more than 3 domains besides the account's own; use at most 3",
	89501: "this server's IP awaits the administrator's confirmation; ask the administrator to confirm it in WeChat, then retry (no sooner than a minute)",
	89503: "this call from a new IP awaits the administrator's confirmation; ask the administrator to confirm it in WeChat, then retry (no sooner than a minute); add the IP to " + consoleWhitelist + " to skip this",
	89506: "the administrator refused this IP twice in 24 hours; retry after 24 hours, or add the IP to " + consoleWhitelist,
	89507: "the administrator refused this IP within the last hour; retry after 1 hour, or add the IP to " + consoleWhitelist,
}

func init() {
	for _, c := range []int{40016, 40017, 40018, 40019, 40020, 40022, 40023, 40024, 40025, 40026, 40027, 65317} {
		hints[c] = menuRuleHint
	}
}

// whitelistIP finds the caller IP WeChat names in a 40164 errmsg
// ("invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: …").
var whitelistIP = regexp.MustCompile(`invalid ip ([0-9A-Fa-f.:]+)`)

// Hint says what to do about the error, "" when there is nothing specific to
// say. For an IP whitelist refusal it names the IP WeChat saw, when WeChat
// gives it.
func (e *APIError) Hint() string {
	if h, ok := e.weComHint(); ok {
		return h
	}
	h := hints[e.Code]
	if e.Code == 61004 && e.Op == pathComponentToken {
		h = "add this server's public egress IP to " + consoleComponentWhitelist + "; retrying cannot help until then"
	}
	if e.Code == 40164 || e.Code == 61004 {
		if m := whitelistIP.FindStringSubmatch(e.Msg); m != nil && net.ParseIP(m[1]) != nil {
			h = strings.Replace(h, "this server's public egress IP", m[1]+" (the IP WeChat saw)", 1)
		}
	}
	return h
}

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

// ErrRedirect is in the chain of a call's error when the API answered with an
// HTTP redirect. WeChat's API never redirects, so the Client never follows
// one: the redirect would take the app secret, a code or a token elsewhere.
var ErrRedirect = errors.New("the API answered with a redirect, which the client does not follow")

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

// IsTokenInvalid reports an access_token WeChat rejects: invalid or not the
// latest (40001), invalid (40014) or expired (42001). It is the client's one
// definition: a basic-token call that fails with it drops the token, fetches
// it again (normal mode, never force_refresh) and runs once more. For a
// visitor's web access_token and refresh_token use WebTokenActionOf, which
// also knows 40003, 40030, 42002 and 42007.
func IsTokenInvalid(err error) bool {
	c := Code(err)
	return c == 40001 || c == 40014 || c == 42001
}

// IsQuota reports an exhausted API quota (45009 daily, 45011 per minute).
func IsQuota(err error) bool { c := Code(err); return c == 45009 || c == 45011 }

// IsConfig reports errors an operator must fix in the configuration or the
// console, where retrying cannot help: a wrong AppID (40013) or secret (40125,
// or 40001 from a basic-token call), a frozen secret (40243), a missing IP
// whitelist entry (40164, 61004), or a call from a new IP awaiting or refused
// by the administrator (89501–89507).
func IsConfig(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch c := ae.Code; {
	case c == 40013, c == 40125, c == 40164, c == 40243, c == 61004, c >= 89501 && c <= 89507:
		return true
	case c == 40001:
		return ae.Op == pathStableToken || ae.Op == pathToken
	}
	return false
}
