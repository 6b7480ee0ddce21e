package wechatauth

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// pageProbe is a test-only handler that answers every request with one
// page of pageTable, through the same renderer the gateway uses, so the
// error-route tests can reach every page inside real Caddy:
//
//	route { wechat_auth_test_page <name> }
type pageProbe struct {
	Page string `json:"page"`
}

func init() {
	caddy.RegisterModule(pageProbe{})
	httpcaddyfile.RegisterHandlerDirective("wechat_auth_test_page", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		var p pageProbe
		if !h.NextArg() || !h.NextArg() {
			return nil, h.ArgErr()
		}
		p.Page = h.Val()
		return p, nil
	})
}

func (pageProbe) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.wechat_auth_test_page", New: func() caddy.Module { return new(pageProbe) }}
}

func (p pageProbe) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	id := pageByName(p.Page)
	if id == 0 {
		return caddyhttp.Error(http.StatusInternalServerError, nil)
	}
	builtinPages.show(w, r, id, pageValues{ActionURL: "/wechat_auth/login?rd=%2F", Ref: "errcode 40029",
		Host: "shop.example.com", PageURL: "https://shop.example.com/"})
	return nil
}
