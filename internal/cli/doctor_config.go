package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the Caddyfile adapter
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// The doctor reads configurations the way `caddy adapt` does and looks at the
// JSON Caddy would run: whatever the Caddyfile said, this is what serves.

// doctorConfig is one adapted configuration file.
type doctorConfig struct {
	File    string
	Source  []byte // the file as written (a Caddyfile may hold {$X})
	Servers map[string]*doctorServer
	Store   string // apps.wechat.store: the shared store's URL, "" for memory
	// Component is apps.wechat.component: the third-party platform, if any.
	Component *wechatauth.ComponentConfig
	HTTP      int // apps.http.http_port (default 80)
	HTTPS     int // apps.http.https_port (default 443)
}

// doctorServer is the part of an apps.http.servers entry the doctor needs.
type doctorServer struct {
	Name           string
	Listen         []string        `json:"listen"`
	Routes         []doctorRoute   `json:"routes"`
	TrustedProxies json.RawMessage `json:"trusted_proxies"`
	AutoHTTPS      *struct {
		Disable bool     `json:"disable"`
		Skip    []string `json:"skip"`
	} `json:"automatic_https"`
	TLSPolicies json.RawMessage `json:"tls_connection_policies"`
}

// doctorRoute is a caddyhttp.Route in its JSON form; handlers stay raw, as
// each kind has its own fields.
type doctorRoute struct {
	Group    string                   `json:"group"`
	Match    caddyhttp.RawMatcherSets `json:"match"`
	Handle   []json.RawMessage        `json:"handle"`
	Terminal bool                     `json:"terminal"`
}

// authConfig is a wechat_auth handler as the gateway decodes it: its JSON
// goes into the gateway's own Handler, so every setting the doctor reads
// (app_id, scope, session_keys, relay, desktop_login, protect, …) is the
// field Caddy fills, under the name Caddy reads, and cannot drift from it.
type authConfig struct {
	*wechatauth.Handler
	// Raw is the handler's JSON, for the gateway's own checks.
	Raw json.RawMessage `json:"-"`
}

// decodeAuth decodes a wechat_auth handler's JSON.
func decodeAuth(raw json.RawMessage) (authConfig, error) {
	a := authConfig{Handler: new(wechatauth.Handler), Raw: raw}
	err := json.Unmarshal(raw, a.Handler)
	// The gateway's own defaults, as its Provision applies them.
	wechatauth.ApplyDefaults(a.Handler)
	return a, err
}

func (a *authConfig) prefix() string { return a.PathPrefix }

func (a *authConfig) scope() string { return a.Scope }

// authSite is one host a wechat_auth handler serves: the unit the doctor
// reports on. A handler under a route for two hosts is two sites.
type authSite struct {
	Config *doctorConfig
	Server *doctorServer
	name   string // set by nameSites
	Host   string // "" when no host matcher limits the route
	Auth   authConfig
	Scheme string // what a browser reaching Caddy directly uses
	Port   string // the port in the browser's URL, "" for the default one
	// Trusted: the server has trusted_proxies, so X-Forwarded-Proto/Host
	// may set the callback's scheme and host.
	Trusted bool
}

// Name is how the report names the site.
func (s *authSite) Name() string {
	if s.name != "" {
		return s.name
	}
	if s.Host == "" {
		return "(any host) on " + strings.Join(s.Server.Listen, ",")
	}
	return s.Host
}

// nameSites names each site by its host, adding the file and server where
// one host appears in several (replicas, or a host on two ports).
func nameSites(sites []*authSite) {
	where := map[string]map[string]bool{}
	for _, s := range sites {
		n := s.Name()
		if where[n] == nil {
			where[n] = map[string]bool{}
		}
		where[n][s.Config.File+"\x00"+s.Server.Name] = true
	}
	for _, s := range sites {
		if n := s.Name(); len(where[n]) > 1 {
			s.name = fmt.Sprintf("%s (%s, %s)", n, s.Config.File, strings.Join(s.Server.Listen, ","))
		}
	}
}

// CallbackURL is the redirect_uri this site sends to WeChat for a visitor
// who reaches Caddy directly.
func (s *authSite) CallbackURL() string {
	if s.Auth.Relay != "" {
		// The relay's endpoints are under <relay>/wechat_auth.
		return strings.TrimSuffix(s.Auth.Relay, "/") + "/wechat_auth/callback"
	}
	host := s.Host
	if host == "" {
		// The Host header carries whatever port the visitor used.
		return s.Scheme + "://<Host header>" + s.Auth.prefix() + "/callback"
	}
	if s.Port != "" {
		host = net.JoinHostPort(host, s.Port)
	}
	return s.Scheme + "://" + host + s.Auth.prefix() + "/callback"
}

// loadDoctorConfig reads and adapts one file as `caddy adapt` would.
func loadDoctorConfig(file, adapter string) (*doctorConfig, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", file, err)
	}
	raw := src
	if adapter == "" {
		base := strings.ToLower(filepath.Base(file))
		if strings.HasPrefix(base, "caddyfile") || filepath.Ext(base) == ".caddyfile" {
			adapter = "caddyfile"
		}
	}
	if adapter != "" {
		a := caddyconfig.GetAdapter(adapter)
		if a == nil {
			return nil, fmt.Errorf("unknown config adapter %q: use caddyfile, or none for JSON", adapter)
		}
		// Warnings are formatting hints; caddy adapt shows them.
		if raw, _, err = a.Adapt(src, map[string]any{"filename": file}); err != nil {
			return nil, fmt.Errorf("adapting %s: %v", file, err)
		}
	}
	var cfg struct {
		Apps struct {
			WeChat *wechatauth.App `json:"wechat"` // the gateway's own type
			HTTP   struct {
				HTTPPort  int                      `json:"http_port"`
				HTTPSPort int                      `json:"https_port"`
				Servers   map[string]*doctorServer `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading the adapted JSON of %s: %v", file, err)
	}
	c := &doctorConfig{File: file, Source: src, Servers: cfg.Apps.HTTP.Servers,
		HTTP: cfg.Apps.HTTP.HTTPPort, HTTPS: cfg.Apps.HTTP.HTTPSPort}
	if cfg.Apps.WeChat != nil {
		c.Store, c.Component = cfg.Apps.WeChat.Store, cfg.Apps.WeChat.Component
	}
	if c.HTTP == 0 {
		c.HTTP = 80
	}
	if c.HTTPS == 0 {
		c.HTTPS = 443
	}
	for name, s := range c.Servers {
		s.Name = name
	}
	return c, nil
}

// sites finds every wechat_auth handler of the configuration, walking routes
// and subroutes, with the hosts of the routes that lead to it.
func (c *doctorConfig) sites() ([]*authSite, error) {
	var out []*authSite
	for _, name := range sortedKeys(c.Servers) {
		s := c.Servers[name]
		var walk func(routes []doctorRoute, hosts []string) error
		walk = func(routes []doctorRoute, hosts []string) error {
			for _, r := range routes {
				h := hosts
				if rh := routeHosts(r); len(rh) > 0 {
					h = rh
				}
				for _, raw := range r.Handle {
					var kind struct {
						Handler string        `json:"handler"`
						Routes  []doctorRoute `json:"routes"`
					}
					if err := json.Unmarshal(raw, &kind); err != nil {
						return fmt.Errorf("%s: server %s: a handler is not valid JSON: %v", c.File, name, err)
					}
					switch kind.Handler {
					case "subroute":
						if err := walk(kind.Routes, h); err != nil {
							return err
						}
					case "wechat_auth":
						a, err := decodeAuth(raw)
						if err != nil {
							return fmt.Errorf("%s: server %s: a wechat_auth handler is not valid: %v", c.File, name, err)
						}
						// app_id is no secret: expanded, it names the account
						// in the report and in calls to WeChat.
						if id, err := caddy.NewReplacer().ReplaceOrErr(a.AppID, true, true); err == nil && id != "" {
							a.AppID = strings.TrimSpace(id)
						}
						for _, host := range orAny(h) {
							out = append(out, c.newSite(s, host, a))
						}
					}
				}
			}
			return nil
		}
		if err := walk(s.Routes, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orAny(hosts []string) []string {
	if len(hosts) == 0 {
		return []string{""}
	}
	return hosts
}

// routeHosts is every host the route's matcher sets name.
func routeHosts(r doctorRoute) []string {
	var hosts []string
	for _, set := range r.Match {
		var h []string
		if raw, ok := set["host"]; ok && json.Unmarshal(raw, &h) == nil {
			hosts = append(hosts, h...)
		}
	}
	return hosts
}

// newSite works out the scheme and port a browser uses to reach host on s,
// as Caddy's automatic HTTPS decides them.
func (c *doctorConfig) newSite(s *doctorServer, host string, a authConfig) *authSite {
	site := &authSite{Config: c, Server: s, Host: strings.ToLower(host), Auth: a,
		Trusted: len(s.TrustedProxies) > 0 && string(s.TrustedProxies) != "null"}
	port := 0
	for _, l := range s.Listen {
		addr, err := caddy.ParseNetworkAddress(l)
		if err != nil || addr.IsUnixNetwork() {
			continue
		}
		port = int(addr.StartPort)
		if port == c.HTTPS || port == c.HTTP {
			break // the default port wins when a server listens on several
		}
	}
	site.Scheme = "https"
	switch {
	case port == c.HTTP:
		site.Scheme = "http"
	case s.AutoHTTPS != nil && s.AutoHTTPS.Disable && len(s.TLSPolicies) == 0:
		site.Scheme = "http"
	case s.AutoHTTPS != nil && containsFold(s.AutoHTTPS.Skip, host):
		site.Scheme = "http"
	case host == "" && len(s.TLSPolicies) == 0:
		// Automatic HTTPS needs a host name to get a certificate for.
		site.Scheme = "http"
	}
	if port != 0 && !(site.Scheme == "https" && port == 443) && !(site.Scheme == "http" && port == 80) {
		site.Port = strconv.Itoa(port)
	}
	return site
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// dollarSecret finds a {$VAR} placeholder on a secret's line of a Caddyfile:
// the adapter replaces it while adapting, so the value lands in the JSON.
// The wecom block's secret is the third argument of its first line or a
// secret line of its own.
var dollarSecret = regexp.MustCompile(`(?m)^\s*(app_secret|session_keys|secret|wecom\s+\S+\s+\S+)\s.*\{\$[A-Za-z0-9_]+`)

func (c *doctorConfig) dollarSecrets() []string {
	if strings.EqualFold(filepath.Ext(c.File), ".json") {
		return nil
	}
	var names []string
	for _, m := range dollarSecret.FindAllStringSubmatch(string(c.Source), -1) {
		names = append(names, m[1])
	}
	return names
}
