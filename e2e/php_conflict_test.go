//go:build linux

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Bob bound a number on the computer (by unionid); signed in silently in
// WeChat (no unionid yet) he tries the same number: the page points him to
// 完善资料, which tells the app he is the same person, not to "another
// account". Alice, whose number it is not, still gets the plain refusal.
func TestPHPExampleConflictWithANumberBoundByUnionIDPointsToTheProfileButton(t *testing.T) {
	s := startPHPDesktopSite(t)
	wantPhone(t, "bob on the desktop", s.bind(t, s.desktopLogin(t, "bob"), "13800138000", nil), "13800138000")

	p := s.bind(t, s.login(t, "bob"), "13800138000", nil)
	if p.Status != http.StatusConflict || !strings.Contains(p.Body, "完善资料") || strings.Contains(p.Body, "已被其他微信账号绑定") {
		t.Fatalf("bob, silent, binding his own desktop number: %d, want 409 pointing to 完善资料:\n%s", p.Status, p.Body)
	}
	wantPhone(t, "after 完善资料", s.shareProfile(t, s.login(t, "bob"), "bob"), "13800138000")

	alice := s.login(t, "alice")
	wantPhone(t, "alice binds her own", s.bind(t, alice, "13900139000", nil), "13900139000")
	p = s.bind(t, s.login(t, "carol"), "13900139000", nil)
	if p.Status != http.StatusConflict || !strings.Contains(p.Body, "已被其他微信账号绑定") {
		t.Fatalf("carol binding alice's number: %d, want 409 已被其他微信账号绑定:\n%s", p.Status, p.Body)
	}
}
