package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func TestAPIErrorTextNamesOpCodeMessageAndHint(t *testing.T) {
	err := &wechat.APIError{Op: "/sns/oauth2/access_token", Code: 40163, Msg: "code been used, rid: 6538ac7d-18c7e09b-572e68c3"}
	want := "wechat /sns/oauth2/access_token: errcode 40163 (code been used): the code was already used (double callback, page refresh or back button); restart authorization"
	if err.Error() != want {
		t.Errorf("Error() =\n %s\nwant\n %s", err.Error(), want)
	}
	ip := &wechat.APIError{Op: "/cgi-bin/stable_token", Code: 40164, Msg: "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 1-2-3"}
	if !strings.Contains(ip.Hint(), "IP白名单") || !strings.Contains(ip.Error(), "whitelist") {
		t.Errorf("40164 hint = %q", ip.Hint())
	}
	if h := (&wechat.APIError{Code: 99999}).Hint(); h != "" {
		t.Errorf("unknown code hint = %q, want empty", h)
	}
}

func TestErrorHelpers(t *testing.T) {
	api := func(op string, code int) error {
		return fmt.Errorf("wrapped: %w", &wechat.APIError{Op: op, Code: code})
	}
	const sns, basic = "/sns/userinfo", "/cgi-bin/stable_token"
	for _, tc := range []struct {
		name string
		is   func(error) bool
		yes  []error
		no   []error
	}{
		{"IsCodeUsed", wechat.IsCodeUsed, []error{api(sns, 40163)}, []error{api(sns, 40029), errors.New("x"), nil}},
		{"IsInvalidCode", wechat.IsInvalidCode, []error{api(sns, 40029), api(sns, 42003)}, []error{api(sns, 40163), nil}},
		{"IsBusy", wechat.IsBusy, []error{api(sns, -1)}, []error{api(sns, 0), &wechat.RequestError{Status: 503}, nil}},
		{"IsTokenInvalid", wechat.IsTokenInvalid, []error{api(sns, 40001), api(sns, 40014), api(sns, 42001)}, []error{api(sns, 48001)}},
		{"IsQuota", wechat.IsQuota, []error{api(sns, 45009), api(sns, 45011)}, []error{api(sns, -1)}},
		{"IsConfig", wechat.IsConfig, []error{api(sns, 40013), api(sns, 40125), api(sns, 40164), api(basic, 40001), api("/cgi-bin/token", 40001),
			api(basic, 61004), api(basic, 40243), api(basic, 89501), api(basic, 89503), api(basic, 89506), api(basic, 89507)},
			[]error{api(sns, 40001), api(sns, 40163), api(basic, 89500), api(basic, 89508), api(basic, 45009), errors.New("x")}},
	} {
		for _, err := range tc.yes {
			if !tc.is(err) {
				t.Errorf("%s(%v) = false, want true", tc.name, err)
			}
		}
		for _, err := range tc.no {
			if tc.is(err) {
				t.Errorf("%s(%v) = true, want false", tc.name, err)
			}
		}
	}
	if wechat.Code(api(sns, 40029)) != 40029 || wechat.Code(errors.New("x")) != 0 {
		t.Error("Code() does not unwrap")
	}
}

func TestRequestErrorUnwrapsToTheCause(t *testing.T) {
	err := &wechat.RequestError{Op: "/sns/auth", Err: fmt.Errorf("timed out after 5s: %w", context.DeadlineExceeded)}
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "wechat /sns/auth: timed out after 5s: context deadline exceeded" {
		t.Errorf("RequestError = %q", err)
	}
}

// TestConfigHintsNameTheSettingToFix: an operator reading the hint knows
// where to go and what to change.
func TestConfigHintsNameTheSettingToFix(t *testing.T) {
	for _, tc := range []struct {
		code int
		msg  string
		want []string
	}{
		{40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1-2-3", []string{"203.0.113.7 (the IP WeChat saw)", "API IP白名单", "微信开发者平台"}},
		{40164, "invalid ip, not in whitelist", []string{"this server's public egress IP", "API IP白名单"}},
		{61004, "access clientip is not registered, not in ip-white-list, rid: 1-2-3", []string{"egress IP", "API IP白名单", "微信开发者平台"}},
		{89503, "此次调用需要管理员确认,请耐心等候", []string{"administrator", "confirm", "retry", "API IP白名单"}},
		{89506, "", []string{"24 hours"}},
		{89507, "", []string{"1 hour"}},
		{40125, "invalid appsecret", []string{"app_secret", "AppSecret", "微信开发者平台"}},
		{40243, "AppSecret已被冻结", []string{"frozen", "unfreeze", "微信开发者平台"}},
		{40013, "invalid appid", []string{"app_id", "微信开发者平台"}},
		{40018, "invalid button name size", []string{"caddy wechat-menu validate"}},
	} {
		h := (&wechat.APIError{Code: tc.code, Msg: tc.msg}).Hint()
		for _, w := range tc.want {
			if !strings.Contains(h, w) {
				t.Errorf("hint for %d (%q) = %q, lacks %q", tc.code, tc.msg, h, w)
			}
		}
	}
	// An errmsg that is not an IP is never put into the hint.
	if h := (&wechat.APIError{Code: 40164, Msg: "invalid ip <script>, not in whitelist"}).Hint(); strings.Contains(h, "<script>") {
		t.Errorf("hint echoes a non-IP: %q", h)
	}
}
