package wechatauth

import "testing"

func TestLoopbackURLTellsTheSimulatorFromWeChat(t *testing.T) {
	t.Setenv("PAGES_TEST_BASE", "http://127.0.0.1:9001")
	for setting, want := range map[string]bool{
		"http://127.0.0.1:9001": true, "http://localhost:9001": true, "http://[::1]:9001": true,
		"{env.PAGES_TEST_BASE}": true, "": false, "https://api.weixin.qq.com": false,
		"https://open.weixin.qq.com": false, "{env.PAGES_TEST_UNSET}": false,
	} {
		if got := loopbackURL(setting); got != want {
			t.Errorf("loopbackURL(%q) = %v, want %v", setting, got, want)
		}
	}
}
