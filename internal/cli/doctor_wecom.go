package cli

// WeCom (企业微信) sites in the doctor: the gateway's own checks run on
// them (CheckConfig: the wecom block's settings and secret), but the
// Official Account's rules (网页授权域名 without a port, MP_verify, the
// account's domain count, WeChat's APIs) do not apply, so the other
// checks see only the Official Account's sites.

// checkWeComSites checks the WeCom sites and returns the others.
func checkWeComSites(r *doctorReport, sites []*authSite) []*authSite {
	var others []*authSite
	seen := map[string]bool{}
	for _, s := range sites {
		if s.Auth.WeCom == nil {
			others = append(others, s)
			continue
		}
		if !seen[s.Name()] {
			seen[s.Name()] = true
			checkHandler(r, s)
			r.note(s.Name(), "wecom", "a WeCom (企业微信) site: the Official Account's checks (网页授权域名, MP_verify) do not apply, and WeCom's console settings are not checked here",
				"in the WeCom admin console set the app's 可信域名 to "+s.Host+" exactly (with its port when not 80/443), serve WeCom's WW_verify_….txt at the site's root, add this server's IP to 企业可信IP, and put the staff in the app's visible range (docs/wecom.md §1)")
		}
	}
	return others
}
