package wechattest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The wire format: what WeChat's JSON APIs put on the wire, byte for byte.
// WeChat writes compact JSON with no trailing newline and & < > as they are
// (one popular Node SDK escapes every control character of the body before
// parsing, so a trailing "\n" breaks every call), under this Content-Type.
const jsonContentType = "application/json; encoding=utf-8"

// encodeJSON renders v as WeChat does: compact, unescaped HTML characters,
// no trailing newline.
func encodeJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the simulator's own types: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func (s *Simulator) writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	body := encodeJSON(v)
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// apiError is WeChat's error body, and its {"errcode":0,"errmsg":"ok"} success.
type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

var okBody = apiError{ErrCode: 0, ErrMsg: "ok"}

// errBody builds WeChat's error body: msg and the per-request " rid: …"
// tail. Most messages put a comma before it (docs/wechat.md §2); the IP
// whitelist message (40164) does not, as WeChat writes it.
func errBody(code int, msg string) apiError {
	if msg == "" {
		msg = "error"
	}
	sep := ", "
	if code == 40164 {
		sep = " "
	}
	return apiError{ErrCode: code, ErrMsg: msg + sep + "rid: " + rid()}
}

// rid is WeChat's request id: three groups of 8 hex digits, the first the time.
func rid() string {
	return fmt.Sprintf("%08x-%s-%s", time.Now().Unix(), randomHex(8), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// fail answers errcode code with WeChat's errmsg for it.
func (s *Simulator) fail(w http.ResponseWriter, r *http.Request, code int) {
	s.writeJSON(w, errBody(code, errMsg(code, r)))
}

// errMsg is WeChat's errmsg for code; the IP whitelist message names the
// caller's address the way WeChat writes it.
func errMsg(code int, r *http.Request) string {
	if code == 40164 {
		return ipMsg(callerIP(r))
	}
	if m, ok := menuErrMsgs[code]; ok {
		return m
	}
	return errMsgs[code]
}

// ipMsg is 40164's errmsg; WeChat names an IPv4 caller in both families.
func ipMsg(ip string) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("invalid ip %s ipv6 %s, not in whitelist", ip, ip)
	}
	return fmt.Sprintf("invalid ip %s ipv6 ::ffff:%s, not in whitelist", ip, ip)
}

// callerIP is the address WeChat would see the call come from.
func callerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errMsgs are WeChat's errmsg texts (全局返回码).
var errMsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
	40097: "invalid args",
	40125: "invalid appsecret",
	40163: "code been used",
	40243: "AppSecret已被冻结，请登录MP解冻后再次调用。",
	41001: "access_token missing",
	41002: "appid missing",
	41003: "refresh_token missing",
	41004: "appsecret missing",
	41008: "missing code",
	41009: "missing openid",
	42001: "access_token expired",
	42002: "refresh_token expired",
	43001: "require GET method",
	43002: "require POST method",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	46003: "menu no exist",
	47001: "data format error",
	48001: "api unauthorized",
	61003: "component is not authorized by this account",
	61004: "access clientip is not registered, not in ip-white-list",
	61005: "component ticket is expired",
	61006: "component ticket is invalid",
	61011: "invalid component",
	89501: "此IP正在等待管理员确认,请联系管理员",
	89503: "此次调用需要管理员确认,请耐心等候",
	89506: "24小时内该IP被管理员拒绝调用两次，24小时内不可再使用该IP调用",
	89507: "1小时内该IP被管理员拒绝调用一次，1小时内不可再使用该IP调用",
}
