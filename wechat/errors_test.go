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
		{"IsConfig", wechat.IsConfig, []error{api(sns, 40013), api(sns, 40125), api(sns, 40164), api(basic, 40001), api("/cgi-bin/token", 40001)},
			[]error{api(sns, 40001), api(sns, 40163), errors.New("x")}},
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
