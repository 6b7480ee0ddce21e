package cli

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestWechatDoctorReportsARedirectingAPIBaseWithoutFollowingIt: an api_base
// that answers the token check with 302 or 307 (which would re-POST the
// AppSecret) is a problem naming api_base; the redirect's target is never
// contacted, and the report carries no secret (runDoctorOn checks).
func TestWechatDoctorReportsARedirectingAPIBaseWithoutFollowingIt(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			sim := wechattest.NewServer()
			defer sim.Close()
			rd := wechattest.NewRedirecting(sim, status, "/cgi-bin/stable_token", "/cgi-bin/token")
			defer rd.Close()
			setDoctorEnv(t, wechattest.DefaultAppSecret)
			// The doctor is pointed at the redirecting base in front of the simulator.
			run := runDoctorOn(t, &wechattest.Server{Simulator: sim.Simulator, URL: rd.URL}, map[string]string{"Caddyfile": goodSite})
			if run.code == 0 {
				t.Errorf("exit 0 for an api_base that redirects:\n%s", run.out)
			}
			var hit bool
			for _, f := range run.find("api_base") {
				hit = hit || (f.Level == levelProblem && strings.Contains(f.Message, "redirect") && strings.Contains(f.Fix, "api_base"))
			}
			if !hit {
				t.Errorf("no api_base problem about the redirect:\n%s", run.out)
			}
			if reached := rd.Reached(); len(reached) != 0 {
				t.Fatalf("the doctor followed the redirect: %v", reached)
			}
		})
	}
}
