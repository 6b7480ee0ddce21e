package cli

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// Where the settings live. Since 2025 the AppSecret and the API IP whitelist
// are on the 微信开发者平台; the 网页授权域名 stays on the account's console.
// docs/setup.md says which parts of these paths are uncertain.
const (
	consoleDomain  = "公众平台 (mp.weixin.qq.com) → 设置与开发 → 公众号设置 → 功能设置 → 网页授权域名"
	consoleSecret  = "微信开发者平台 (developers.weixin.qq.com/platform → 公众号 → 开发密钥 AppSecret; formerly 公众平台 → 基本配置)"
	consoleIPList  = "the API IP whitelist (API IP白名单) on 微信开发者平台 (developers.weixin.qq.com/platform → 公众号; formerly 公众平台 → 基本配置 → IP白名单)"
	keysFix        = "session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}, with the same values on every replica of the site and nowhere else (make each with: head -c 32 /dev/urandom | base64, or openssl rand -base64 32; not openssl rand -hex, which is hex)"
	consentPattern = "use scope snsapi_base for the site and link a button (完善资料 / use my WeChat profile) to %s/login?scope=snsapi_userinfo&rd=<the page>, so consent is asked only when the visitor acts (see docs/setup.md, Compliant consent)"
)

// verifyName is the file name WeChat gives for the domain check.
var verifyName = regexp.MustCompile(`^MP_verify_([A-Za-z0-9]{16})\.txt$`)

// verifyFile is the MP_verify file the operator downloaded (--verify-file).
type verifyFile struct {
	Name    string // MP_verify_xxxxxxxxxxxxxxxx.txt
	Content string // the 16 characters
}

func readVerifyFile(p string) (*verifyFile, error) {
	return readProofFile("--verify-file", p, verifyName, "WeChat's file is named MP_verify_ and 16 letters or digits, .txt")
}

// readProofFile reads a domain proof file given by flag, whose name must
// match name (else the error says want).
func readProofFile(flag, p string, name *regexp.Regexp, want string) (*verifyFile, error) {
	base := filepath.Base(p)
	if !name.MatchString(base) {
		return nil, fmt.Errorf("%s %s: %s", flag, p, want)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flag, err)
	}
	return &verifyFile{Name: base, Content: strings.TrimSpace(string(b))}, nil
}

// domainSetting is one 网页授权域名 setting: a host, optionally with a path.
type domainSetting struct {
	Host, Path string
}

func parseDomainSetting(s string) domainSetting {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "/")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	host, p, _ := strings.Cut(s, "/")
	if p != "" {
		p = "/" + p
	}
	return domainSetting{Host: host, Path: p}
}

// covers reports whether a callback on host with path fits the setting.
func (d domainSetting) covers(host, p string) bool {
	return d.Host == host && (d.Path == "" || strings.HasPrefix(p, d.Path+"/"))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// registers reports whether the site needs a 网页授权域名 of its own: it does
// its own callbacks on a real domain name.
func (s *authSite) registers() bool {
	return s.Auth.Relay == "" && s.Host != "" && !strings.Contains(s.Host, "*") &&
		net.ParseIP(strings.Trim(s.Host, "[]")) == nil && !isLoopbackHost(s.Host)
}

// checkCallback checks the redirect_uri the site sends against WeChat's
// 网页授权域名 rules.
func checkCallback(r *doctorReport, s *authSite, settings []domainSetting) {
	name, cb := s.Name(), s.CallbackURL()
	if s.Auth.Relay != "" {
		r.ok(name, "callback", "logs in through the relay at "+s.Auth.Relay+": it needs no 网页授权域名 of its own")
		return
	}
	switch {
	case s.Host == "":
		r.note(name, "callback_host", "no host matcher: the callback uses whatever Host visitors send, so the doctor cannot check it against WeChat's rules",
			"give the site its domain as address (wx.example.com { … }) if it has one")
		if s.Scheme == "http" && !s.Trusted {
			r.note(name, "callback_scheme", "served over plain HTTP and trusting no proxy: if TLS ends at a load balancer or ingress in front, the callback says http and WeChat answers 10039",
				"trust that proxy in the global options: servers { trusted_proxies static <its address ranges> }")
		}
		return
	case strings.Contains(s.Host, "*"):
		r.note(name, "callback_host", "a wildcard site: each subdomain visitors use needs its own 网页授权域名 setting (at most 2 per account)", "")
		return
	case isLoopbackHost(s.Host):
		r.note(name, "callback_host", "a loopback host: fine against the simulator (caddy wechat-mock), never accepted by WeChat", "")
		return
	case net.ParseIP(strings.Trim(s.Host, "[]")) != nil:
		r.problem(name, "callback_ip", fmt.Sprintf("the callback %s is on an IP address: WeChat accepts only domain names as 网页授权域名, so every login stops at error 10003", cb),
			"serve the site on an (ICP-registered) domain name: make it the site address (wx.example.com { … }) and register it at "+consoleDomain)
		return
	}
	good := true
	if s.Port != "" && !s.Trusted {
		good = false
		r.problem(name, "callback_port", fmt.Sprintf("the callback %s carries port %s: WeChat refuses a redirect_uri with a port, even :443 (error 10003, redirect_uri域名与后台配置不一致)", cb, s.Port),
			"serve the site on the default port (site address wx.example.com, Caddy listening on 443), or put it behind a proxy on 443 and trust that proxy in the global options: servers { trusted_proxies static <the proxy's address ranges> }")
	}
	if s.Scheme == "http" && !s.Trusted {
		good = false
		r.problem(name, "callback_scheme", fmt.Sprintf("the site is served over plain HTTP and trusts no proxy, so its callback is %s. Behind a load balancer or CDN that ends TLS, visitors are on https while the callback says http: WeChat answers 10039 (redirect_uri协议与后台配置不一致), or logins silently downgrade to http", cb),
			"if a load balancer or CDN ends TLS, trust it in the global options, servers { trusted_proxies static <its address ranges> }, so X-Forwarded-Proto sets the scheme; otherwise make the bare domain the site address (wx.example.com { … }) and Caddy serves HTTPS itself")
	}
	if s.Trusted && (s.Port != "" || s.Scheme == "http") {
		r.note(name, "callback_proxy", "behind trusted_proxies the callback takes its scheme and host from X-Forwarded-Proto/X-Forwarded-Host: the proxy must send https and the host without a port", "")
	}
	if len(settings) > 0 {
		p := s.Auth.prefix() + "/callback"
		found := false
		for _, d := range settings {
			found = found || d.covers(s.Host, p)
		}
		if !found {
			good = false
			r.problem(name, "callback_unregistered", fmt.Sprintf("the callback %s is under none of the 网页授权域名 settings given with --domain (%s): WeChat answers 10003", cb, settingsList(settings)),
				fmt.Sprintf("register %s at %s (a path setting must be a prefix of %s)", s.Host, consoleDomain, p))
		}
	}
	if good {
		r.ok(name, "callback", "the callback URL fits the 网页授权域名 rules (domain name, no port, "+s.Scheme+")")
	}
}

func settingsList(settings []domainSetting) string {
	var parts []string
	for _, d := range settings {
		parts = append(parts, d.Host+d.Path)
	}
	return strings.Join(parts, ", ")
}

// secretHow says how a secret found in the site's adapted JSON got there.
func (s *authSite) secretHow() string {
	if len(s.Config.dollarSecrets()) > 0 {
		return "it was written as {$VAR}, which the Caddyfile adapter replaces while adapting"
	}
	return "the value is written into the configuration"
}

// checkHandler runs the checks that concern the handler itself once per
// handler: secrets written into the configuration, consent forced site-wide.
func checkHandler(r *doctorReport, s *authSite) {
	name := s.Name()
	a := s.Auth
	how := s.secretHow()
	checkSettings(r, name, a)
	switch {
	case a.AppSecret != "" && !strings.Contains(a.AppSecret, "{"):
		r.problem(name, "secret_in_config", "app_secret appears in the adapted JSON: "+how+", so `caddy adapt`, the admin API (/config/) and autosave.json show the secret",
			"write app_secret {env.WECHAT_APP_SECRET} (or {file./run/secrets/wechat_app_secret}); Caddy reads it when it starts and never writes it out")
	}
	for _, k := range a.SessionKeys {
		if (k.HashKey != "" && !strings.Contains(k.HashKey, "{")) || (k.BlockKey != "" && !strings.Contains(k.BlockKey, "{")) {
			r.problem(name, "secret_in_config", "session_keys appear in the adapted JSON ("+how+"): anyone who reads the configuration can forge sessions",
				"write "+keysFix)
			break
		}
	}
	if dl := a.DesktopLogin; dl != nil {
		if dl.AppSecret != "" && !strings.Contains(dl.AppSecret, "{") {
			r.problem(name, "secret_in_config", "desktop_login's secret appears in the adapted JSON: "+how,
				"write desktop_login "+dl.AppID+" {env.WECHAT_WEB_APP_SECRET}")
		}
		host := s.Host
		if host == "" {
			host = "this site's host name"
		}
		r.note(name, "desktop_callback", "desktop_login: the website application "+dl.AppID+" redirects to "+host+a.prefix()+"/callback; WeChat checks that against the website application's own 授权回调域, not the Official Account's 网页授权域名",
			"on open.weixin.qq.com → 管理中心 → 网站应用 → "+dl.AppID+" → 授权回调域, enter "+host+" (no scheme, port or path); bind the website application and app_id to one Open Platform account so logins carry the unionid (docs/desktop.md)")
	}
	if a.scope() == "snsapi_userinfo" && len(a.ProtectRaw) == 0 {
		r.problem(name, "userinfo_sitewide", "scope snsapi_userinfo on the whole site asks for consent the moment a page opens: WeChat may answer with its snapshot page (快照页), whose visitors are virtual users without identity",
			fmt.Sprintf(consentPattern, a.prefix()))
	}
}

// checkVerify checks that the site serves WeChat's MP_verify file to a client
// that is not WeChat, which is how WeChat checks a 网页授权域名 setting.
func checkVerify(r *doctorReport, e *routeEval, s *authSite, vf *verifyFile, settings []domainSetting) {
	name := s.Name()
	folder := ""
	for _, d := range settings {
		if d.Host == s.Host && d.Path != "" {
			folder = d.Path
		}
	}
	file, want := "", ""
	if vf != nil {
		file, want = vf.Name, vf.Content
	} else if f, body, ok := configuredFile(s, verifyName, folder); ok {
		file, want = f, body
	}
	probeFile := file
	if probeFile == "" {
		probeFile = "MP_verify_0000000000000000.txt"
	}
	p := path.Join("/", folder, probeFile)
	out := e.probe(s, p)
	shown := p
	if file == "" {
		shown = path.Join("/", folder, "MP_verify_<16 characters>.txt")
	}
	handle := fmt.Sprintf("handle %s {\n  respond \"<the 16 characters>\"\n}\nhandle {\n  wechat_auth { … }\n  reverse_proxy …\n}", shown)
	switch {
	case out.Kind == outcomeWeChat || out.Kind == outcomeError:
		what := "WeChat's domain check (and curl) get " + fmt.Sprint(out.Status) + " from " + out.Handler
		if file == "" {
			r.problem(name, "mp_verify", "no MP_verify file is configured, and "+what+" for "+shown+": WeChat cannot verify the 网页授权域名",
				"download the file from "+consoleDomain+" and serve it before wechat_auth:\n"+handle)
			return
		}
		r.problem(name, "mp_verify", what+" for "+p+" instead of the file: wechat_auth runs before a respond line in the same block, so WeChat cannot verify the 网页授权域名",
			"serve the file in its own handle block, before the protected routes:\n"+handle)
	case out.Kind == outcomeStatic && file != "":
		if out.Status != 200 || strings.TrimSpace(out.Body) != want {
			r.problem(name, "mp_verify", fmt.Sprintf("%s answers %d with content other than the file's 16 characters", p, out.Status),
				"respond with exactly the characters inside the file WeChat gave you")
			return
		}
		r.ok(name, "mp_verify", p+" is served to any client (200, the file's 16 characters)")
	case out.Kind == outcomeUpstream && file != "" && out.Handler == "file_server":
		r.note(name, "mp_verify", p+" goes to file_server: make sure the file is in its root", "")
	case out.Kind == outcomeUpstream:
		r.note(name, "mp_verify", fmt.Sprintf("%s goes to %s, past wechat_auth: the doctor cannot see whether the file is there", p, out.Handler),
			"pass --verify-file MP_verify_….txt and serve it with respond, or check with curl -i https://"+s.Host+p)
	case out.Kind == outcomeUnknown:
		r.unchecked(name, "mp_verify", "the doctor could not tell what "+p+" gets: "+out.Detail, "check with curl -i https://"+s.Host+p)
	default:
		r.problem(name, "mp_verify", "no MP_verify file is served at "+shown+": WeChat cannot verify the 网页授权域名",
			"download the file from "+consoleDomain+" and serve it before wechat_auth:\n"+handle)
	}
}

// configuredFile finds a respond for a file named like name (an MP_verify
// or WW_verify file) in folder on the site's server.
func configuredFile(s *authSite, name *regexp.Regexp, folder string) (file, body string, ok bool) {
	var walk func(routes []doctorRoute) bool
	walk = func(routes []doctorRoute) bool {
		for _, rt := range routes {
			for _, set := range rt.Match {
				var paths []string
				_ = jsonUnmarshal(set["path"], &paths)
				for _, p := range paths {
					if name.MatchString(path.Base(p)) && path.Dir(p) == path.Join("/", folder) {
						file = path.Base(p)
						body, _ = staticBody(rt.Handle)
					}
				}
			}
			for _, h := range rt.Handle {
				var sub struct {
					Routes []doctorRoute `json:"routes"`
				}
				if jsonUnmarshal(h, &sub) == nil && walk(sub.Routes) {
					return true
				}
			}
			if file != "" {
				return true
			}
		}
		return false
	}
	walk(s.Server.Routes)
	return file, body, file != ""
}

// checkAccounts runs the checks that span every site of one AppID: how many
// 网页授权域名 settings they need, and whether replicas share session keys.
func checkAccounts(r *doctorReport, sites []*authSite, settings []domainSetting) {
	byApp := map[string][]*authSite{}
	for _, s := range sites {
		byApp[s.Auth.AppID] = append(byApp[s.Auth.AppID], s)
	}
	for _, app := range sortedKeys(byApp) {
		subject := "account " + app
		hosts := map[string]bool{}
		for _, s := range byApp[app] {
			if s.registers() {
				hosts[s.Host] = true
			}
		}
		if n := len(hosts); n > 2 {
			r.problem(subject, "domain_count", fmt.Sprintf("%d sites do their own logins (%s): each needs its own 网页授权域名 setting, and WeChat allows at most 2 per account", n, strings.Join(sortedKeys(hosts), ", ")),
				"keep at most 2 callback domains: let one site log in for the others through a relay (relay_for on the callback domain, relay on the others), or serve the others as paths of one domain")
		} else if n > 0 {
			r.ok(subject, "domain_count", fmt.Sprintf("%d 网页授权域名 setting(s) needed (%s): within WeChat's limit of 2", n, strings.Join(sortedKeys(hosts), ", ")))
		}
		if len(settings) > 2 {
			r.problem(subject, "domain_count", fmt.Sprintf("--domain lists %d settings: WeChat allows at most 2 per account", len(settings)), "remove the extra settings")
		}
		checkKeys(r, subject, byApp[app])
	}
}

// checkKeys: every handler of one account needs session keys, and handlers
// that must read each other's cookies (replicas: one site in several
// configuration files) need the same ones. Relay partners are different
// sites and keep keys of their own (checkRelays says so).
func checkKeys(r *doctorReport, subject string, sites []*authSite) {
	files := map[string]bool{}
	keys := map[string]map[string][]string{} // site → keys → where
	var missing []string
	seen := map[string]bool{}
	for _, s := range sites {
		files[s.Config.File] = true
		where := s.Name() + " in " + s.Config.File
		if seen[where] {
			continue
		}
		seen[where] = true
		if len(s.Auth.SessionKeys) == 0 {
			missing = append(missing, where)
			continue
		}
		k := s.Auth.SessionKeys[0].HashKey + " " + s.Auth.SessionKeys[0].BlockKey
		site := s.Host // replicas: the same host in several files
		if site == "" {
			site = "(any host)"
		}
		if keys[site] == nil {
			keys[site] = map[string][]string{}
		}
		keys[site][k] = append(keys[site][k], where)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		msg := "no session_keys on " + strings.Join(missing, "; ") + ": Caddy makes random keys at each start, so a restart signs everyone out"
		if len(files) > 1 {
			msg += ", and the other replicas of a site cannot read these cookies (visitors are sent to WeChat again on every hop)"
		}
		r.problem(subject, "session_keys", msg, "set "+keysFix)
	}
	differ := false
	for _, site := range sortedKeys(keys) {
		if len(keys[site]) < 2 {
			continue
		}
		differ = true
		var groups []string
		for _, k := range sortedKeys(keys[site]) {
			groups = append(groups, strings.Join(keys[site][k], ", "))
		}
		r.problem(subject, "session_keys", "replicas of "+site+" sign with different session_keys ("+strings.Join(groups, " | ")+"): a cookie one issues fails on the other",
			"set "+keysFix)
	}
	if len(missing) == 0 && !differ {
		r.ok(subject, "session_keys", "session_keys set, the same on every replica of each site")
	}
}

// checkStore: the wechat app's store URL may carry a Redis password, which
// must not be in the adapted JSON; replicas share revocations only through it.
func checkStore(r *doctorReport, configs []*doctorConfig) {
	withStore := 0
	for _, c := range configs {
		if c.Store == "" {
			continue
		}
		withStore++
		if strings.Contains(c.Store, "{") {
			continue
		}
		// A password in the userinfo, or in the query (?password=, how a
		// Sentinel URL carries the data nodes' one).
		if wechatauth.StoreURLHoldsSecret(c.Store) {
			r.problem(c.File, "secret_in_config", "the store URL (global option wechat { store … }) holds a password that appears in the adapted JSON",
				"write store {env.WECHAT_STORE} (or {file./run/secrets/wechat_store}) and put the URL there")
		}
	}
	if len(configs) > 1 && withStore < len(configs) {
		r.note("configuration", "store", "several replicas without a shared store (global option wechat { store redis://… }): a logout or revocation, and a relay hand-back's single use, hold only on the replica that saw them", "")
	}
}
