package cli

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// checkOrder finds every wechat_auth that a handler answering first keeps
// from running (route { reverse_proxy …; wechat_auth }, order wechat_auth
// last, …), with the rules the gateway logs at start (caddymodule's
// FindBypasses), read from the adapted JSON.
func checkOrder(r *doctorReport, configs []*doctorConfig) {
	for _, c := range configs {
		for _, name := range sortedKeys(c.Servers) {
			s := c.Servers[name]
			for _, b := range wechatauth.FindBypasses(checkRoutesJSON(s.Routes)) {
				subject := b.Site()
				if len(b.Hosts) == 0 {
					subject = "(any host) on " + strings.Join(s.Listen, ",")
				}
				msg, fix := b.Problem()
				if b.When == "" {
					r.problem(subject, "order", msg, fix)
				} else {
					r.note(subject, "order", msg, fix)
				}
			}
		}
	}
}

// checkRoutesJSON turns adapted routes into the check's routes.
func checkRoutesJSON(routes []doctorRoute) []wechatauth.CheckRoute {
	out := make([]wechatauth.CheckRoute, 0, len(routes))
	for _, rt := range routes {
		cr := wechatauth.CheckRoute{Group: rt.Group, Terminal: rt.Terminal, Hosts: routeHosts(rt)}
		var sets []string
		for _, set := range rt.Match {
			var parts []string
			for name, raw := range set {
				var buf bytes.Buffer
				if json.Compact(&buf, raw) != nil {
					buf.Reset()
					buf.Write(raw)
				}
				parts = append(parts, name+" "+buf.String())
			}
			sort.Strings(parts)
			sets = append(sets, strings.Join(parts, " "))
		}
		cr.Match = strings.Join(sets, " or ")
		for _, raw := range rt.Handle {
			cr.Handlers = append(cr.Handlers, checkHandlerJSON(raw))
		}
		out = append(out, cr)
	}
	return out
}

func checkHandlerJSON(raw json.RawMessage) wechatauth.CheckHandler {
	var h struct {
		Handler        string            `json:"handler"`
		Routes         []doctorRoute     `json:"routes"`
		HandleResponse []json.RawMessage `json:"handle_response"`
		Transport      struct {
			Protocol string `json:"protocol"`
		} `json:"transport"`
		Abort      bool            `json:"abort"`
		StatusCode json.RawMessage `json:"status_code"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return wechatauth.CheckHandler{}
	}
	switch h.Handler {
	case "wechat_auth":
		return wechatauth.CheckHandler{Name: "wechat_auth"}
	case "subroute":
		return wechatauth.CheckHandler{Name: "subroute", Routes: checkRoutesJSON(h.Routes)}
	case "reverse_proxy":
		name := "reverse_proxy"
		if h.Transport.Protocol == "fastcgi" {
			name = "php_fastcgi"
		}
		return wechatauth.CheckHandler{Name: name, Answers: wechatauth.HandlerAnswers(name, len(h.HandleResponse) > 0, false)}
	case "static_response":
		redirect := strings.HasPrefix(strings.Trim(string(h.StatusCode), `"`), "3")
		return wechatauth.CheckHandler{Name: "respond", Answers: wechatauth.HandlerAnswers("static_response", false, h.Abort || redirect)}
	}
	return wechatauth.CheckHandler{Name: h.Handler, Answers: wechatauth.HandlerAnswers(h.Handler, false, false)}
}
