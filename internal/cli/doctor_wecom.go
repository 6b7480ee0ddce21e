package cli

import (
	"fmt"
	"regexp"
	"strings"
)

// WeCom (企业微信) sites in the doctor: the gateway's own checks run on
// them (CheckConfig: the wecom block's settings and secret), and WeCom's
// rules replace the Official Account's: the WW_verify file at the site's
// root here, the app's console settings online (doctor_wecom_online.go).
// The Official Account's checks (网页授权域名 without a port, MP_verify,
// the account's domain count, WeChat's APIs) see only the other sites.

// wecomVerifyName is the file name WeCom gives for the 可信域名 proof; the
// file holds the 16 characters (docs/wechat.md §11).
var wecomVerifyName = regexp.MustCompile(`^WW_verify_([A-Za-z0-9]{16})\.txt$`)

// readWeComVerifyFile reads --wecom-verify-file.
func readWeComVerifyFile(p string) (*verifyFile, error) {
	return readProofFile("--wecom-verify-file", p, wecomVerifyName, "WeCom's file is named WW_verify_ and 16 letters or digits, .txt")
}

// checkWeComSites checks the WeCom sites and returns the others and them.
func checkWeComSites(r *doctorReport, e *routeEval, sites []*authSite, vf *verifyFile) (others, wecom []*authSite) {
	seen := map[string]bool{}
	for _, s := range sites {
		if s.Auth.WeCom == nil {
			others = append(others, s)
			continue
		}
		wecom = append(wecom, s)
		if !seen[s.Name()] {
			seen[s.Name()] = true
			checkHandler(r, s)
			checkWeComSecret(r, s)
			checkWeComVerify(r, e, s, vf)
			r.note(s.Name(), "wecom", "a WeCom (企业微信) site: the Official Account's checks (网页授权域名, MP_verify) do not apply; WeCom's console settings are checked online (not with --offline)",
				"in the WeCom admin console set the app's 可信域名 to "+s.Host+" exactly (with its port when not 80/443), serve WeCom's WW_verify_….txt at the site's root, add this server's IP to 企业可信IP, and put the staff in the app's visible range (docs/wecom.md §1)")
		}
	}
	return others, wecom
}

// checkWeComSecret: the wecom block's secret, like app_secret, belongs in
// a placeholder Caddy expands when it starts; a value in the adapted JSON
// shows in `caddy adapt`, the admin API (/config/) and autosave.json.
func checkWeComSecret(r *doctorReport, s *authSite) {
	if w := s.Auth.WeCom; w.Secret != "" && !strings.Contains(w.Secret, "{") {
		r.problem(s.Name(), "secret_in_config", "the wecom block's secret appears in the adapted JSON: "+s.secretHow()+", so `caddy adapt`, the admin API (/config/) and autosave.json show the app's Secret",
			"write wecom "+w.CorpID+" "+w.AgentID+" {env.WECOM_SECRET} (or {file./run/secrets/wecom_secret}); Caddy reads it when it starts and never writes it out")
	}
}

// checkWeComVerify checks that the site serves WeCom's WW_verify file at
// its root to any client: WeCom fetches it to accept the 可信域名, and a
// wechat_auth in front of it answers with a sign-in instead.
func checkWeComVerify(r *doctorReport, e *routeEval, s *authSite, vf *verifyFile) {
	file, want := "", ""
	if vf != nil {
		file, want = vf.Name, vf.Content
	} else if f, body, ok := configuredFile(s, wecomVerifyName, ""); ok {
		file, want = f, body
	}
	p, shown := "/"+file, "/"+file
	if file == "" {
		p, shown = "/WW_verify_0000000000000000.txt", "/WW_verify_<16 characters>.txt"
	}
	handle := "handle /WW_verify_*.txt {\n  file_server\n}\nhandle {\n  wechat_auth { … }\n  …\n}"
	out := e.probe(s, p)
	switch {
	case out.Kind == outcomeWeChat || out.Kind == outcomeError:
		r.problem(s.Name(), "wecom_verify", fmt.Sprintf("%s answers %s for %s instead of WeCom's file: WeCom cannot verify the 可信域名", out.Handler, strings.TrimSpace(fmt.Sprint(out.Status)), shown),
			"serve the WW_verify file WeCom gives you before wechat_auth, from the site's root:\n"+handle)
	case out.Kind == outcomeStatic && file != "":
		if out.Status != 200 || strings.TrimSpace(out.Body) != want {
			r.problem(s.Name(), "wecom_verify", fmt.Sprintf("%s answers %d with content other than the file's 16 characters", p, out.Status),
				"serve the file unchanged (its content is the 16 characters after WW_verify_)")
			return
		}
		r.ok(s.Name(), "wecom_verify", p+" is served to any client (200, the file's 16 characters)")
	case out.Kind == outcomeStatic || out.Kind == outcomeUpstream:
		where := out.Handler
		if file == "" {
			where += ": put the WW_verify_….txt file WeCom gives you there"
		} else {
			where += ": make sure the file is there"
		}
		r.note(s.Name(), "wecom_verify", shown+" goes to "+where+" (pass --wecom-verify-file to check its content)", "")
	case out.Kind == outcomeUnknown:
		r.unchecked(s.Name(), "wecom_verify", "the doctor could not tell what "+p+" gets: "+out.Detail, "check with curl -i https://"+s.Host+p)
	default:
		r.problem(s.Name(), "wecom_verify", "nothing serves "+shown+": WeCom cannot verify the 可信域名",
			"serve the WW_verify file WeCom gives you before wechat_auth, from the site's root:\n"+handle)
	}
}
