package wechatauth

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy/fastcgi"
	"go.uber.org/zap"
)

// An order mistake opens a site: in `route { reverse_proxy …; wechat_auth }`,
// with `order wechat_auth last`, or with a php_fastcgi before it, the app
// answers first and wechat_auth never runs, so anyone reaches the app, with
// any X-WeChat-* header they care to send. `caddy validate` cannot see it.
// This file finds it in a server's routes; the gateway logs it at start (the
// wechat app reads the http app's provisioned routes) and wechat-doctor
// reports it from the adapted JSON, both through FindBypasses.

// CheckRoute is a route as the check sees it, built either from provisioned
// routes (CheckRoutesOf) or from adapted JSON (the doctor).
type CheckRoute struct {
	// Group is the route's group: of the routes of one list that share a
	// group, only the first that matches runs (handle blocks).
	Group string
	// Match says what the route's matchers select, "" for every request.
	Match string
	// Hosts are the host matcher's names, the site's address.
	Hosts []string
	// Handlers are the route's handlers in the order they run.
	Handlers []CheckHandler
	// Terminal: no route after this one runs once it matched.
	Terminal bool
}

// CheckHandler is one handler of a CheckRoute.
type CheckHandler struct {
	// Name is the directive's name: reverse_proxy, php_fastcgi,
	// file_server, respond, wechat_auth, subroute, …
	Name string
	// Answers: the handler answers every request it gets and never passes
	// it on (an app or content of its own), so nothing after it runs.
	Answers bool
	// Routes are a subroute's routes (handle, route, php_fastcgi blocks).
	Routes []CheckRoute
}

// Bypass is a wechat_auth that a handler answering first keeps from running.
type Bypass struct {
	// Hosts are the site's addresses (host matchers leading to
	// wechat_auth); none for a site without a host.
	Hosts []string
	// By is the handler that answers first, e.g. reverse_proxy.
	By string
	// When is what selects the requests it takes: "" for every request
	// wechat_auth would have seen, else its matchers (e.g. path [/health]),
	// often a public page on purpose.
	When string
}

// Site names the bypassed site for a message.
func (b Bypass) Site() string {
	if len(b.Hosts) == 0 {
		return "(any host)"
	}
	return strings.Join(b.Hosts, ", ")
}

// Problem says what goes wrong and how to fix it, for the log and the doctor.
func (b Bypass) Problem() (message, fix string) {
	if b.When == "" {
		message = fmt.Sprintf("%s answers every request before wechat_auth runs: the site is open to anyone, without a WeChat login, and the app trusts whatever X-WeChat-* headers a client sends", b.By)
	} else {
		message = fmt.Sprintf("%s answers requests matching %s before wechat_auth runs: those are served without a WeChat login (fine for a public page such as a health check, never for the app)", b.By, b.When)
	}
	fix = "put wechat_auth before " + b.By + ": drop `order wechat_auth …` (wechat_auth runs right after basic_auth by default), write it first inside route { }, or serve public paths in their own handle block before a handle { wechat_auth … } block"
	return message, fix
}

// phpMatch is the matcher of the route php_fastcgi puts its proxy in.
const phpMatch = `path ["*.php"]`

// pending is a handler that answers, seen while walking, with the matchers
// on its own side of the path from where it meets a later wechat_auth.
type pending struct {
	by    string
	when  []string
	group string // the group of the route it came from, in the current list
}

// FindBypasses walks routes in the order Caddy runs them and returns, for
// each wechat_auth, every handler that can answer a request before it.
func FindBypasses(routes []CheckRoute) []Bypass {
	var out []Bypass
	walkRoutes(routes, nil, nil, &out)
	return out
}

// walkRoutes runs one route list; before are the answering handlers that
// may run before this list. It returns those found in the list that may run
// before whatever follows the list.
func walkRoutes(routes []CheckRoute, before []pending, hosts []string, out *[]Bypass) []pending {
	var seen []pending
	for _, rt := range routes {
		prev := append([]pending(nil), before...)
		for _, p := range seen {
			// Routes of one group exclude each other.
			if rt.Group == "" || p.group != rt.Group {
				prev = append(prev, p)
			}
		}
		h := hosts
		if len(rt.Hosts) > 0 {
			h = rt.Hosts
		}
		found := walkHandlers(rt.Handlers, prev, h, out)
		if rt.Terminal {
			// A request this route matched ends in it: nothing after runs.
			continue
		}
		for _, p := range found {
			// php_fastcgi's own rewrite sends every request to its *.php
			// route: that matcher narrows nothing.
			if rt.Match != "" && !(p.by == "php_fastcgi" && rt.Match == phpMatch) {
				p.when = append([]string{rt.Match}, p.when...)
			}
			p.group = rt.Group
			seen = append(seen, p)
		}
	}
	return seen
}

func walkHandlers(handlers []CheckHandler, before []pending, hosts []string, out *[]Bypass) []pending {
	var local []pending
	for _, hd := range handlers {
		switch {
		case hd.Name == "wechat_auth":
			for _, p := range append(append([]pending(nil), before...), local...) {
				*out = append(*out, Bypass{Hosts: hosts, By: p.by, When: strings.Join(p.when, " and ")})
			}
		case len(hd.Routes) > 0:
			local = append(local, walkRoutes(hd.Routes, append(append([]pending(nil), before...), local...), hosts, out)...)
		case hd.Answers:
			local = append(local, pending{by: hd.Name})
		}
	}
	return local
}

// CheckRoutesOf turns provisioned routes into CheckRoutes.
func CheckRoutesOf(routes caddyhttp.RouteList) []CheckRoute {
	out := make([]CheckRoute, 0, len(routes))
	for _, rt := range routes {
		cr := CheckRoute{Group: rt.Group, Terminal: rt.Terminal}
		var sets []string
		for _, set := range rt.MatcherSets {
			var parts []string
			for _, m := range set {
				name := matcherName(m)
				switch mh := m.(type) {
				case caddyhttp.MatchHost:
					cr.Hosts = append(cr.Hosts, mh...)
				case *caddyhttp.MatchHost:
					cr.Hosts = append(cr.Hosts, *mh...)
				}
				b, _ := json.Marshal(m)
				parts = append(parts, name+" "+string(b))
			}
			sort.Strings(parts)
			sets = append(sets, strings.Join(parts, " "))
		}
		cr.Match = strings.Join(sets, " or ")
		for _, h := range rt.Handlers {
			cr.Handlers = append(cr.Handlers, checkHandlerOf(h))
		}
		out = append(out, cr)
	}
	return out
}

func matcherName(m any) string {
	if mod, ok := m.(caddy.Module); ok {
		id := mod.CaddyModule().ID
		return id.Name()
	}
	return fmt.Sprintf("%T", m)
}

func checkHandlerOf(h caddyhttp.MiddlewareHandler) CheckHandler {
	switch v := h.(type) {
	case *Handler:
		return CheckHandler{Name: "wechat_auth"}
	case *caddyhttp.Subroute:
		return CheckHandler{Name: "subroute", Routes: CheckRoutesOf(v.Routes)}
	case *reverseproxy.Handler:
		name := "reverse_proxy"
		if _, ok := v.Transport.(*fastcgi.Transport); ok {
			name = "php_fastcgi"
		}
		return CheckHandler{Name: name, Answers: HandlerAnswers(name, len(v.HandleResponse) > 0, false)}
	case *caddyhttp.StaticResponse:
		redirect := strings.HasPrefix(string(v.StatusCode), "3")
		return CheckHandler{Name: "respond", Answers: HandlerAnswers("static_response", false, v.Abort || redirect)}
	}
	name := ""
	if mod, ok := h.(caddy.Module); ok {
		name = mod.CaddyModule().ID.Name()
	}
	return CheckHandler{Name: name, Answers: HandlerAnswers(name, false, false)}
}

// HandlerAnswers is the one list of handlers that answer a request with
// content of their own and never pass it on. reverse_proxy with
// handle_response (forward_auth) passes a request on when its routes do;
// abort, error and a redirect (respond or redir with a 3xx status) end a
// request without opening anything.
func HandlerAnswers(name string, handleResponse, abortOrRedirect bool) bool {
	switch name {
	case "reverse_proxy", "php_fastcgi":
		return !handleResponse
	case "static_response", "respond":
		return !abortOrRedirect
	case "file_server", "acme_server":
		return true
	}
	return false
}

// logRouteBypasses logs, once at start, every wechat_auth of the running
// config that a handler answering first keeps from running.
func logRouteBypasses(ctx caddy.Context, logger *zap.Logger) {
	if logger == nil {
		return
	}
	v, err := ctx.AppIfConfigured("http")
	if err != nil {
		return
	}
	httpApp, ok := v.(*caddyhttp.App)
	if !ok {
		return
	}
	for _, name := range sortedServerNames(httpApp.Servers) {
		srv := httpApp.Servers[name]
		for _, b := range FindBypasses(CheckRoutesOf(srv.Routes)) {
			msg, fix := b.Problem()
			fields := []zap.Field{zap.String("site", b.Site()), zap.String("server", name), zap.Strings("listen", srv.Listen), zap.String("fix", fix)}
			if b.When == "" {
				logger.Error("wechat_auth never runs on this site: "+msg, fields...)
			} else {
				logger.Warn("wechat_auth does not run for some requests: "+msg, fields...)
			}
		}
	}
}

func sortedServerNames(m map[string]*caddyhttp.Server) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
