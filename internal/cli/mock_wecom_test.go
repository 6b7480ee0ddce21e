package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// getJSON GETs u and decodes its JSON answer.
func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return out
}

func TestWechatMockPlaysAWeComCorpFromItsFlags(t *testing.T) {
	base, out, stop := startMock(t, "--corp", "wwtestcorp0001:1000009:corpsecret9", "--corp-domain", "127.0.0.1:8080",
		"--department", "1:0:总部", "--department", "2:1:运营部", "--department", "3:1:财务部",
		"--member", "ops1:小运:2", "--member", "fin1:小财:3", "--visible", "2")
	defer stop()
	for _, want := range []string{"WeCom corp wwtestcorp0001", "app 1000009", "corpsecret9", "127.0.0.1:8080", "ops1", "小运", "fin1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "zhangsan") {
		t.Error("the demo corp's members are served although --member was given")
	}
	tok := getJSON(t, base+"/cgi-bin/gettoken?corpid=wwtestcorp0001&corpsecret=corpsecret9")
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("gettoken with the --corp secret: %v", tok)
	}
	if u := getJSON(t, base+"/cgi-bin/user/get?access_token="+at+"&userid=ops1"); u["name"] != "小运" {
		t.Errorf("user/get ops1 (visible): %v", u)
	}
	if u := getJSON(t, base+"/cgi-bin/user/get?access_token="+at+"&userid=fin1"); u["errcode"] != float64(60011) {
		t.Errorf("user/get fin1 (outside --visible): %v, want 60011", u)
	}
	// A member inside WeCom is sent back to the trusted host, port included.
	b := wechattest.NewWeComBrowser("ops1")
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	authorize := base + "/connect/oauth2/authorize?appid=wwtestcorp0001&redirect_uri=" + url.QueryEscape("http://127.0.0.1:8080/cb") +
		"&response_type=code&scope=snsapi_base&state=s&agentid=1000009#wechat_redirect"
	if p := b.Get(t, authorize); !strings.HasPrefix(p.Header.Get("Location"), "http://127.0.0.1:8080/cb?code=") {
		t.Errorf("authorize for a trusted host → %d %q", p.Status, p.Header.Get("Location"))
	}
	p := b.Get(t, strings.Replace(authorize, "8080", "9090", 1))
	if p.Header.Get("Location") != "" || !strings.Contains(p.Body, "可信域名") {
		t.Errorf("authorize for another port → %d %q, want WeCom's 可信域名 page", p.Status, p.Header.Get("Location"))
	}
}

func TestWechatMockDemoCorpAndTrustedIPs(t *testing.T) {
	base, out, stop := startMock(t, "--corp", "demo", "--trusted-ip", "203.0.113.9")
	defer stop()
	if !strings.Contains(out.String(), wechattest.DefaultCorpID) || !strings.Contains(out.String(), "zhangsan") {
		t.Fatalf("--corp demo does not serve the demo corp:\n%s", out)
	}
	tok := getJSON(t, base+"/cgi-bin/gettoken?corpid="+wechattest.DefaultCorpID+"&corpsecret="+wechattest.DefaultAgentSecret)
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("gettoken: %v (企业可信IP does not apply to it)", tok)
	}
	if u := getJSON(t, base+"/cgi-bin/user/get?access_token="+at+"&userid=zhangsan"); u["errcode"] != float64(60020) ||
		!strings.Contains(u["errmsg"].(string), "from ip: 127.0.0.1") {
		t.Errorf("user/get from an IP outside --trusted-ip: %v, want 60020 naming 127.0.0.1", u)
	}
}

func TestWechatMockRejectsBadWeComFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--corp", "ww1:agent:s"},
		{"--corp", "ww1:1000002"},
		{"--corp", "ww1:0:s"},
		{"--corp", "demo", "--corp-domain", "https://app.example.com"},
		{"--corp", "demo", "--corp-domain", "*.example.com"},
		{"--corp", "demo", "--corp-domain", "app.example.com:"},
		{"--corp", "demo", "--department", "x:0"},
		{"--corp", "demo", "--department", "2"},
		{"--corp", "demo", "--member", ":张三"},
		{"--corp", "demo", "--member", "zs:张三:研发"},
		{"--corp", "demo", "--trusted-ip", "office"},
		{"--member", "zs"},
		{"--visible", "2"},
	} {
		// A flag wrongly accepted would serve until the context ends.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := runMock(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &syncBuffer{}, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
}
