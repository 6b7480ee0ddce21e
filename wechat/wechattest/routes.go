// Package wechattest is a WeChat simulator for tests and local development, in the
// style of net/http/httptest: NewServer starts a real server on loopback serving the
// authorize page (open.weixin.qq.com) and the JSON APIs (api.weixin.qq.com) under
// WeChat's own paths, with WeChat's JSON shapes and errcodes, byte for byte. Its
// clock can be faked, faults injected and received calls inspected. `caddy
// wechat-mock` serves the same Simulator standalone. NewBrowser gives tests the
// WeChat in-app browser of a test user.
//
// The simulator keeps its own copy of WeChat's rules (docs/wechat.md): it never calls
// the wechat client's validators, so a mistake there cannot make it agree.
package wechattest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// route is one path the simulator serves. The table is the single list both
// the mux and Summary (what `caddy wechat-mock` prints) are built from.
type route struct {
	path    string
	kind    string // "page", "api" or "mock"; "" routes are not listed
	handler http.HandlerFunc
}

func (s *Simulator) buildRoutes() {
	s.routes = []route{
		{"/connect/oauth2/authorize", "page", s.handleAuthorize},
		{"/connect/oauth2/authorize/confirm", "", s.handleConfirm},
		{"/connect/qrconnect", "page", s.handleQRConnect},
		{"/connect/qrconnect/poll", "", s.handleQRPoll},
		{"/connect/confirm", "mock", s.handleScan},
		{"/sns/oauth2/access_token", "api", s.handleCodeToken},
		{"/sns/oauth2/refresh_token", "api", s.handleRefreshToken},
		{"/sns/userinfo", "api", s.handleUserInfo},
		{"/sns/auth", "api", s.handleAuth},
		{"/sns/oauth2/component/access_token", "api", s.handleComponentCodeToken},
		{"/sns/oauth2/component/refresh_token", "api", s.handleComponentRefresh},
		{"/cgi-bin/component/api_component_token", "api", s.handleComponentToken},
		{"/cgi-bin/token", "api", s.handleToken},
		{"/cgi-bin/stable_token", "api", s.handleStableToken},
		{"/cgi-bin/user/info", "api", s.handleFollower},
		{"/cgi-bin/ticket/getticket", "api", s.handleGetTicket},
		{"/cgi-bin/menu/create", "api", s.handleMenuCreate},
		{"/cgi-bin/menu/get", "api", s.handleMenuGet},
		{"/cgi-bin/menu/delete", "api", s.handleMenuDelete},
		{"/cgi-bin/get_current_selfmenu_info", "api", s.handleSelfMenu},
		{"/mock/users", "mock", s.handlePicker},
		{"/mock/avatar/", "", s.handleAvatar},
		{"/{$}", "", s.handleIndex},
		{"/", "", s.handleNotFound},
	}
	if len(s.wecom.corps) > 0 { // WeCom's paths exist once a corp does (wecom_login.go)
		s.routes = append(s.routes, s.wecomRoutes()...)
	}
	m := http.NewServeMux()
	for _, rt := range s.routes {
		m.HandleFunc(rt.path, rt.handler)
	}
	s.mux = m
}

// Paths returns the WeChat paths the simulator serves (authorize page and
// JSON APIs), in the order Summary lists them.
func (s *Simulator) Paths() []string {
	var out []string
	for _, rt := range s.routes {
		if rt.kind == "page" || rt.kind == "api" {
			out = append(out, rt.path)
		}
	}
	return out
}

// ServeHTTP records the call, applies a queued fault if any, then answers as WeChat.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	s.record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Time: s.now()})
	if f, ok := s.nextFault(r.URL.Path); ok && s.applyFault(w, r, f) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Server is a Simulator listening on 127.0.0.1, like httptest.Server.
type Server struct {
	*Simulator
	// URL is the base URL, e.g. http://127.0.0.1:54321, for both APIBase and OpenBase.
	URL string
	ts  *httptest.Server
}

// NewServer starts a Simulator on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	sim := New(opts...)
	ts := httptest.NewServer(sim)
	return &Server{Simulator: sim, URL: ts.URL, ts: ts}
}

// Close releases hanging handlers and shuts the server down.
func (s *Server) Close() {
	s.Simulator.Close()
	s.ts.Close()
}

// Close releases handlers blocked by a Hang or Delay fault, so a server holding them
// can shut down. Server.Close calls it; standalone users call it before Shutdown.
func (s *Simulator) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// Summary describes the apps, users and endpoints, for `caddy wechat-mock` to print.
func (s *Simulator) Summary(baseURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WeChat simulator at %s\n\nApps (AppID / AppSecret):\n", baseURL)
	for _, a := range s.apps {
		fmt.Fprintf(&b, "  %s  %s", a.ID, a.Secret)
		if a.OpenPlatform != "" {
			fmt.Fprintf(&b, "  (Open Platform %s: unionid)", a.OpenPlatform)
		}
		if a.Website {
			fmt.Fprintf(&b, "  website app, callback domains %s", strings.Join(a.Domains, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nUsers (X-WeChat-Mock-User or the picker):\n")
	for _, u := range s.users {
		var flags []string
		if u.Snapshot {
			flags = append(flags, "snapshot")
		}
		if u.Subscribed {
			flags = append(flags, "follower")
		}
		fmt.Fprintf(&b, "  %-8s %s", u.Name, u.Nickname)
		if len(flags) > 0 {
			fmt.Fprintf(&b, "  (%s)", strings.Join(flags, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString(s.componentSummary())
	fmt.Fprintf(&b, "\nCallback domains: %s", strings.Join(s.Domains(), ", "))
	if s.anyBrowser {
		b.WriteString(" (any browser may authorize)")
	} else {
		b.WriteString(" (authorize needs a WeChat User-Agent; --any-browser lifts that)")
	}
	s.wecomSummary(&b)
	fmt.Fprintf(&b, "\n\nUse %s as both api_base and open_base.\n", baseURL)
	labels := map[string]string{"page": "page       ", "api": "api        ", "mock": "mock       "}
	for _, rt := range s.routes {
		if l, ok := labels[rt.kind]; ok {
			fmt.Fprintf(&b, "  %s %s%s\n", l, baseURL, rt.path)
		}
	}
	return b.String()
}

func (s *Simulator) handleIndex(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	s.renderPage(w, http.StatusOK, "index", map[string]any{"Summary": s.Summary(scheme + "://" + r.Host)})
}

func (s *Simulator) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/cgi-bin/") || strings.HasPrefix(r.URL.Path, "/sns/") {
		// WeChat answers unknown API paths with 404 and a short text.
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	http.NotFound(w, r)
}
