//go:build linux

package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// There is no Traefik on Debian to run; this checks that the example's
// dynamic configuration says what the gateway needs and strips what it must.
func TestTraefikExampleForwardAuthPassesIdentityHeadersAndStripsSpoofedOnes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "examples", "traefik", "dynamic.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Service     string   `yaml:"service"`
				Middlewares []string `yaml:"middlewares"`
				EntryPoints []string `yaml:"entryPoints"`
				TLS         any      `yaml:"tls"`
			} `yaml:"routers"`
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address             string   `yaml:"address"`
					TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
				Headers *struct {
					CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
				} `yaml:"headers"`
			} `yaml:"middlewares"`
			Services map[string]struct {
				LoadBalancer struct {
					PassHostHeader *bool `yaml:"passHostHeader"`
					Servers        []struct {
						URL string `yaml:"url"`
					} `yaml:"servers"`
				} `yaml:"loadBalancer"`
			} `yaml:"services"`
		} `yaml:"http"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("dynamic.yml: %v", err)
	}
	h := cfg.HTTP

	var authName, stripName string
	for name, m := range h.Middlewares {
		if m.ForwardAuth != nil {
			authName = name
		}
		if m.Headers != nil {
			stripName = name
		}
	}
	if authName == "" || stripName == "" {
		t.Fatalf("want a forwardAuth and a headers middleware, have %v", h.Middlewares)
	}
	fa := h.Middlewares[authName].ForwardAuth
	addr, err := url.Parse(fa.Address)
	if err != nil || addr.Path != "/wechat_auth/auth" {
		t.Errorf("forwardAuth address %q: want the gateway's /wechat_auth/auth", fa.Address)
	}
	if fa.TrustForwardHeader {
		t.Error("trustForwardHeader: true lets a client choose the return URL the gateway sees")
	}
	for _, want := range []string{"X-WeChat-OpenID", "X-WeChat-UnionID", "X-WeChat-Scope", "X-WeChat-Nickname", "X-WeChat-Avatar", "X-WeChat-Subscribed", "X-WeChat-Source"} {
		if !slices.Contains(fa.AuthResponseHeaders, want) {
			t.Errorf("authResponseHeaders lacks %s", want)
		}
		under := strings.ReplaceAll(want, "-", "_")
		if v, ok := h.Middlewares[stripName].Headers.CustomRequestHeaders[under]; !ok || v != "" {
			t.Errorf("%s does not remove %s", stripName, under)
		}
	}
	for _, want := range []string{"Remote-User", "Remote_User"} {
		if v, ok := h.Middlewares[stripName].Headers.CustomRequestHeaders[want]; !ok || v != "" {
			t.Errorf("%s does not remove %s", stripName, want)
		}
	}

	// The app's router runs the strip before the auth; the gateway's own
	// router serves /wechat_auth/ on the same host, with the Host passed on.
	var app, gw string
	for name, r := range h.Routers {
		if slices.Contains(r.Middlewares, authName) {
			app = name
		}
		if strings.Contains(r.Rule, "PathPrefix(`/wechat_auth/`)") {
			gw = name
		}
	}
	if app == "" || gw == "" {
		t.Fatalf("want an app router using %s and a /wechat_auth/ router: %v", authName, h.Routers)
	}
	mws := h.Routers[app].Middlewares
	if i, j := slices.Index(mws, stripName), slices.Index(mws, authName); i < 0 || i > j {
		t.Errorf("app router middlewares %v: %s must come before %s", mws, stripName, authName)
	}
	host := strings.SplitN(h.Routers[app].Rule, ")", 2)[0]
	if !strings.HasPrefix(h.Routers[gw].Rule, host+")") {
		t.Errorf("gateway router %q is not on the app's host %q", h.Routers[gw].Rule, host)
	}
	for name, r := range h.Routers {
		if _, ok := h.Services[r.Service]; !ok {
			t.Errorf("router %s uses undefined service %q", name, r.Service)
		}
	}
	gs := h.Services[h.Routers[gw].Service].LoadBalancer
	if len(gs.Servers) == 0 || !strings.HasPrefix(fa.Address, gs.Servers[0].URL+"/") {
		t.Errorf("forwardAuth address %q is not the gateway service %v", fa.Address, gs.Servers)
	}
	if gs.PassHostHeader != nil && !*gs.PassHostHeader {
		t.Error("the gateway service must get the site's Host (passHostHeader) for redirect_uri")
	}
}
