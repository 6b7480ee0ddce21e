package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// What the doctor says about a file that does not adapt, or that has no
// wechat_auth because it is a forward-auth front.

// dollarVar is a {$VAR} without a default, which the Caddyfile adapter
// replaces with nothing when VAR is unset.
var dollarVar = regexp.MustCompile(`\{\$([A-Za-z0-9_]+)\}`)

// adaptFix says how to fix a file that does not adapt: most often a {$VAR}
// that is not set here left a setting without its value.
func adaptFix(file string) string {
	src, err := os.ReadFile(file)
	if err == nil && !strings.EqualFold(filepath.Ext(file), ".json") {
		var unset []string
		seen := map[string]bool{}
		for _, m := range dollarVar.FindAllStringSubmatch(string(src), -1) {
			if _, ok := os.LookupEnv(m[1]); !ok && !seen[m[1]] {
				seen[m[1]] = true
				unset = append(unset, m[1])
			}
		}
		if len(unset) > 0 {
			return "set " + strings.Join(unset, " and ") + ": the Caddyfile reads {$" + unset[0] + "} while adapting, and unset it leaves its line without a value (or give a default, {$" + unset[0] + ":…})"
		}
	}
	return "fix the line the error names, until `caddy adapt --config " + file + "` succeeds"
}

// forwardAuthURI is the auth endpoint a forward_auth front asks (a
// reverse_proxy with handle_response that rewrites to it), "" for none.
func (c *doctorConfig) forwardAuthURI() string {
	var find func(routes []doctorRoute) string
	find = func(routes []doctorRoute) string {
		for _, rt := range routes {
			for _, raw := range rt.Handle {
				var h struct {
					Handler        string            `json:"handler"`
					Routes         []doctorRoute     `json:"routes"`
					HandleResponse []json.RawMessage `json:"handle_response"`
					Rewrite        struct {
						URI string `json:"uri"`
					} `json:"rewrite"`
				}
				if json.Unmarshal(raw, &h) != nil {
					continue
				}
				if h.Handler == "reverse_proxy" && len(h.HandleResponse) > 0 && h.Rewrite.URI != "" {
					return h.Rewrite.URI
				}
				if u := find(h.Routes); u != "" {
					return u
				}
			}
		}
		return ""
	}
	for _, name := range sortedKeys(c.Servers) {
		if u := find(c.Servers[name].Routes); u != "" {
			return u
		}
	}
	return ""
}
