package wechatauth

// What wechat-doctor (internal/cli) takes from the gateway instead of
// copying it, so the doctor's verdict and the gateway's cannot differ.

// DomainRuleAllows reports whether entry, one value of setting
// (redirect_domains, jssdk_domains or relay_for, which take the same
// forms), admits a browser on scheme://hostport: the gateway's own parsing
// and matching, the scheme's default port and its explicit form (":443"
// for https) being the same. The error names setting and entry.
func DomainRuleAllows(setting, entry, scheme, hostport string) (bool, error) {
	rule, err := parseDomainRuleOf(setting, entry)
	if err != nil {
		return false, err
	}
	o, err := makeOrigin(scheme, hostport)
	if err != nil {
		return false, nil
	}
	host, port := splitHostPort(o.Host, o.Scheme)
	return rule.allows(o.Scheme, host, port), nil
}

// ClientOrigin is a relay_key origin in the one form the gateway compares:
// lower-case, the scheme's default port dropped (https://shop.example.com).
func ClientOrigin(raw string) (string, error) {
	o, err := parseClientOrigin(raw)
	if err != nil {
		return "", err
	}
	return o.String(), nil
}

// ApplyDefaults fills what a handler's configuration left out exactly as
// Provision does (path_prefix, scope, cookie_name, non_wechat, …), so the
// doctor reads the values the gateway will use.
func ApplyDefaults(h *Handler) { h.setDefaults() }
