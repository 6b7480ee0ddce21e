package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The doctor answers "what does a plain HTTP client get for this path on this
// host?" without starting Caddy: it walks the server's routes as Caddy does,
// with Caddy's own matcher modules deciding what matches, and knows what the
// handlers that end a request answer.

// outcomeKind is how a request ends.
type outcomeKind int

const (
	outcomeNothing  outcomeKind = iota // no handler answered: Caddy sends an empty 200
	outcomeStatic                      // respond / static_response
	outcomeWeChat                      // wechat_auth refused or redirected it
	outcomeUpstream                    // reverse_proxy, php_fastcgi, file_server: content the doctor cannot see
	outcomeError                       // error / authentication
	outcomeUnknown                     // a matcher the doctor could not evaluate
)

// outcome is what a plain HTTP client gets.
type outcome struct {
	Kind    outcomeKind
	Status  int
	Body    string
	Handler string // the handler that answered
	Detail  string // e.g. file_server's root or why the doctor could not tell
}

// routeEval walks a server's routes for one request.
type routeEval struct {
	ctx caddy.Context
}

// probe answers what a client that is not WeChat (e.g. WeChat's own domain
// check, or curl) gets for GET scheme://host/path on s.
func (e *routeEval) probe(site *authSite, path string) outcome {
	host := site.Host
	if host == "" {
		host = "example.com"
	}
	r := httptest.NewRequest(http.MethodGet, site.Scheme+"://"+host+path, nil)
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.RemoteAddr = "203.0.113.1:40000"
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, httptest.NewRecorder(), nil)
	out, done := e.routes(site.Server.Routes, r, map[string]bool{})
	if !done {
		return outcome{Kind: outcomeNothing, Status: http.StatusOK}
	}
	return out
}

// routes runs a route list; done reports whether a handler answered.
func (e *routeEval) routes(routes []doctorRoute, r *http.Request, groups map[string]bool) (outcome, bool) {
	for _, rt := range routes {
		if rt.Group != "" && groups[rt.Group] {
			continue
		}
		match, err := e.matchSets(rt.Match, r)
		if err != nil {
			return outcome{Kind: outcomeUnknown, Detail: err.Error()}, true
		}
		if !match {
			continue
		}
		if rt.Group != "" {
			groups[rt.Group] = true
		}
		for _, raw := range rt.Handle {
			if out, done := e.handler(raw, r); done {
				return out, true
			}
		}
		if rt.Terminal {
			// Nothing after a terminal route runs, not even the handlers
			// after an enclosing subroute: Caddy sends an empty 200.
			return outcome{Kind: outcomeNothing, Status: http.StatusOK}, true
		}
	}
	return outcome{}, false
}

// handler runs one handler as far as the doctor can tell what it does.
func (e *routeEval) handler(raw json.RawMessage, r *http.Request) (outcome, bool) {
	var h struct {
		Handler    string          `json:"handler"`
		Routes     []doctorRoute   `json:"routes"`
		StatusCode json.RawMessage `json:"status_code"`
		Body       string          `json:"body"`
		Root       string          `json:"root"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return outcome{Kind: outcomeUnknown, Detail: err.Error()}, true
	}
	switch h.Handler {
	case "subroute":
		// A subroute has its own route groups.
		return e.routes(h.Routes, r, map[string]bool{})
	case "static_response":
		status := http.StatusOK
		if s := strings.Trim(string(h.StatusCode), `"`); s != "" {
			_, _ = fmt.Sscanf(s, "%d", &status)
		}
		return outcome{Kind: outcomeStatic, Status: status, Body: h.Body, Handler: "respond"}, true
	case "wechat_auth":
		a, err := decodeAuth(raw)
		if err != nil {
			return outcome{Kind: outcomeUnknown, Detail: err.Error()}, true
		}
		return e.wechatAuth(a, r)
	case "reverse_proxy", "file_server", "php_fastcgi":
		return outcome{Kind: outcomeUpstream, Handler: h.Handler, Detail: h.Root}, true
	case "error":
		return outcome{Kind: outcomeError, Status: http.StatusInternalServerError, Handler: "error"}, true
	case "authentication":
		return outcome{Kind: outcomeError, Status: http.StatusUnauthorized, Handler: "basic_auth"}, true
	}
	return outcome{}, false
}

// wechatAuth is what wechat_auth does with a request from outside WeChat.
func (e *routeEval) wechatAuth(a authConfig, r *http.Request) (outcome, bool) {
	p := a.prefix()
	if strings.HasPrefix(r.URL.Path, p+"/") {
		return outcome{Kind: outcomeWeChat, Status: http.StatusNotFound, Handler: "wechat_auth"}, true
	}
	if len(a.ProtectRaw) > 0 {
		match, err := e.matchSets(a.ProtectRaw, r)
		if err != nil {
			return outcome{Kind: outcomeUnknown, Detail: err.Error()}, true
		}
		if !match {
			return outcome{}, false
		}
	}
	switch a.NonWeChat {
	case "allow":
		return outcome{}, false
	case "login":
		return outcome{Kind: outcomeWeChat, Status: http.StatusFound, Handler: "wechat_auth (non_wechat login)"}, true
	case "deny":
		return outcome{Kind: outcomeWeChat, Status: http.StatusForbidden, Handler: "wechat_auth (non_wechat deny)"}, true
	}
	return outcome{Kind: outcomeWeChat, Status: http.StatusForbidden, Handler: "wechat_auth (the open-in-WeChat page)"}, true
}

// matchSets reports whether any set matches (no sets: everything matches),
// loading Caddy's own matcher modules so that every matcher means here what it
// means in Caddy.
func (e *routeEval) matchSets(sets caddyhttp.RawMatcherSets, r *http.Request) (bool, error) {
	if len(sets) == 0 {
		return true, nil
	}
	for _, set := range sets {
		all := true
		for _, name := range sortedKeys(set) {
			mod, err := e.ctx.LoadModuleByID("http.matchers."+name, set[name])
			if err != nil {
				return false, fmt.Errorf("the %s matcher could not be loaded: %v", name, err)
			}
			var ok bool
			switch m := mod.(type) {
			case caddyhttp.RequestMatcherWithError:
				if ok, err = m.MatchWithError(r); err != nil {
					return false, fmt.Errorf("the %s matcher: %v", name, err)
				}
			case caddyhttp.RequestMatcher: //nolint:staticcheck // older matchers only have Match
				ok = m.Match(r)
			default:
				return false, fmt.Errorf("%s is not a request matcher", name)
			}
			if !ok {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonUnmarshal is json.Unmarshal that treats a missing value as an error.
func jsonUnmarshal(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("no value")
	}
	return json.Unmarshal(raw, v)
}

// staticBody is the body of the first static_response in handlers, looking
// into subroutes (a handle block wraps its respond in one).
func staticBody(handlers []json.RawMessage) (string, bool) {
	for _, raw := range handlers {
		var h struct {
			Handler string        `json:"handler"`
			Body    string        `json:"body"`
			Routes  []doctorRoute `json:"routes"`
		}
		if json.Unmarshal(raw, &h) != nil {
			continue
		}
		if h.Handler == "static_response" {
			return h.Body, true
		}
		for _, rt := range h.Routes {
			if b, ok := staticBody(rt.Handle); ok {
				return b, true
			}
		}
	}
	return "", false
}
