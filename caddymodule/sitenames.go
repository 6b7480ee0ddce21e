package wechatauth

import (
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Whether the Host header of a request is one of the site's configured
// names. Caddy routes a request to a site block with a host in its address
// (shop.example.com, *.preview.example.com) only when the Host header
// matches it; a catch-all site (http://:8080, or JSON routes without a host
// matcher) takes any Host at all. So a name taken from the Host header is
// configured only when every route leading to this handler matches on host.
// The JS-SDK endpoint signs this site's own pages only then (jssdk.go); a
// relay client builds its hand-back URL from its relay_key origins and
// never from the Host header (relay_serve.go).

// siteNames remembers, once per handler, what the server's routes say.
type siteNames struct {
	handler *Handler // the handler whose routes are looked at
	once    sync.Once
	named   bool
}

// hostNamed reports whether r reached this handler only through routes that
// match on host. Without the server's routes to look at (a unit test), it
// says no: the answer that trusts the Host header less.
func (sn *siteNames) hostNamed(r *http.Request) bool {
	if sn == nil {
		return false
	}
	sn.once.Do(func() {
		srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
		if srv == nil {
			return
		}
		found, named := routesTo(srv.Routes, sn.handler, false)
		if srv.Errors != nil {
			if f, n := routesTo(srv.Errors.Routes, sn.handler, false); f {
				found, named = true, named && n
			}
		}
		sn.named = found && named
	})
	return sn.named
}

// routesTo reports whether target is among routes' handlers (in subroutes
// too), and whether every route leading to it matched on host (named says
// whether the routes around these did).
func routesTo(routes caddyhttp.RouteList, target *Handler, named bool) (found, allNamed bool) {
	allNamed = true
	for _, rt := range routes {
		n := named || matchesHost(rt.MatcherSets)
		for _, mh := range rt.Handlers {
			if x, ok := mh.(*Handler); ok && x == target {
				found, allNamed = true, allNamed && n
			}
			if sub, ok := mh.(*caddyhttp.Subroute); ok {
				if f, a := routesTo(sub.Routes, target, n); f {
					found, allNamed = true, allNamed && a
				}
			}
		}
	}
	return found, allNamed
}

// matchesHost reports whether every matcher set requires a host name: a
// route of several sets is taken when any one matches.
func matchesHost(sets caddyhttp.MatcherSets) bool {
	if len(sets) == 0 {
		return false
	}
	for _, set := range sets {
		has := false
		for _, m := range set {
			var hosts caddyhttp.MatchHost
			switch v := m.(type) {
			case *caddyhttp.MatchHost:
				hosts = *v
			case caddyhttp.MatchHost:
				hosts = v
			default:
				continue
			}
			has = len(hosts) > 0
			for _, name := range hosts {
				if name == "*" || strings.Contains(name, "{") {
					has = false
				}
			}
			if has {
				break
			}
		}
		if !has {
			return false
		}
	}
	return true
}
