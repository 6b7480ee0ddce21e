package wechat

import (
	"errors"
	"net"
	"regexp"
	"strings"
)

// WeCom's errcodes share numbers with the Official Account's but not always
// meanings (40001 is a wrong secret, 50001 an untrusted redirect host), so
// errors from WeCom paths take their hints from this table (APIError.Hint).

const weComConsoleApp = "企业微信管理后台 → 应用管理 → the app"

var weComHints = map[int]string{
	-1:     "WeCom is busy; retry later",
	40001:  "the app's Secret does not match the corp ID, or the app is disabled; copy Secret again from " + weComConsoleApp,
	40013:  "the corp ID is invalid; copy it from 企业微信管理后台 → 我的企业 → 企业信息 → 企业ID",
	40014:  "the access_token is invalid; fetch a new one",
	40029:  "the code is invalid, already used or older than 5 minutes; restart sign-in",
	40056:  "the agentid is not a number or names no app of this corp; copy AgentId from " + weComConsoleApp,
	42001:  "the access_token expired; fetch a new one",
	48002:  "the app lacks permission for this API; check the app's permissions (API接口权限) in " + weComConsoleApp,
	50001:  "the redirect_uri host is not the app's trusted domain (可信域名), which must match exactly, port included; set it in " + weComConsoleApp + " → 网页授权及JS-SDK / 企业微信授权登录",
	60011:  "the app has no permission for this member, department or tag (outside its visible range, 可见范围); widen the visible range in " + weComConsoleApp,
	60020:  "this server's IP is not in the app's trusted IPs (企业可信IP); add it in " + weComConsoleApp + " → 企业可信IP (takes effect after a minute)",
	301002: "the access_token belongs to another app than the agentid: each app's Secret gives a token for that app only; use the Secret of the app whose AgentId is configured (" + weComConsoleApp + ")",
	60021:  "the userid is outside the app's visible range (可见范围); add the member or their department in " + weComConsoleApp,
}

// weComOps are the paths whose errors WeComHints explains.
var weComOps = map[string]bool{
	pathWeComToken: true, pathWeComAuthUser: true, pathWeComOldUser: true, pathWeComUserDetail: true,
	pathWeComUserGet: true, pathWeComDepartments: true, pathWeComAgent: true,
}

// weComIP finds the caller IP in a 60020 errmsg ("not allow to access from
// your ip, hint: […], from ip: 203.0.113.7, more info at …").
var weComIP = regexp.MustCompile(`from ip: ([0-9A-Fa-f.:]+)`)

// weComHint is Hint for an error from a WeCom path; ok is false for other paths.
func (e *APIError) weComHint() (string, bool) {
	if !weComOps[e.Op] {
		return "", false
	}
	h := weComHints[e.Code]
	if e.Code == 60020 {
		if m := weComIP.FindStringSubmatch(e.Msg); m != nil && net.ParseIP(strings.TrimRight(m[1], ".")) != nil {
			h = strings.Replace(h, "this server's IP", "this server's IP "+strings.TrimRight(m[1], "."), 1)
		}
	}
	return h, true
}

// IsWeComConfig reports WeCom errors an operator must fix in the admin
// console or the configuration, where retrying cannot help: a wrong secret
// (40001 from gettoken) or corp ID (40013), a wrong agentid (40056), a
// missing API permission (48002), a redirect host that is not a trusted
// domain (50001), a server IP missing from the trusted IPs (60020), or a
// Secret of another app than the agentid (301002).
func IsWeComConfig(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || !weComOps[ae.Op] {
		return false
	}
	switch ae.Code {
	case 40013, 40056, 48002, 50001, 60020, 301002:
		return true
	case 40001:
		return ae.Op == pathWeComToken
	}
	return false
}
