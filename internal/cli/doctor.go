package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // every matcher and handler a configuration may use
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-doctor",
		Usage: "--config <file> [--config <replica-file>…] [--adapter caddyfile] [--offline] [--json] [--verify-file MP_verify_….txt] [--domain <网页授权域名>…]",
		Short: "Finds what will break WeChat logins in a configuration, and says how to fix it",
		Long:  doctorLong,
		CobraFunc: func(cmd *cobra.Command) {
			doctorFlags(cmd)
			cmd.RunE = func(cmd *cobra.Command, _ []string) error {
				return doctorExit(cmd, runDoctorCmd(cmd, os.Stdout, os.Stderr))
			}
		},
	})
}

const doctorLong = `
Reads a Caddy configuration as 'caddy adapt' does, finds every wechat_auth
handler and reports, site by site, what will make WeChat logins fail and
which setting or console page fixes it.

Offline checks:
  - the callback URL each site sends (scheme, host, port, path) against
    WeChat's 网页授权域名 rules: a domain name, no IP, no port, at most two
    settings per account, under a path setting when --domain gives one;
    http behind a load balancer that Caddy does not trust (error 10039);
  - WeChat's MP_verify_….txt file served to a client that is not WeChat on
    every registered domain (a respond line that wechat_auth shadows is the
    classic mistake);
  - session_keys set and equal on replicas (give each replica's file with
    another --config) and relay partners; every relay client listed in its
    relay's relay_for;
  - secrets that end up in the adapted JSON ({$VAR} or literal values);
  - scope snsapi_userinfo forced on a whole site (WeChat's snapshot page).

Online checks (skip them with --offline) call the configured api_base and
nothing else: the AppID and AppSecret (cgi-bin/stable_token: 40125, 40243),
this machine's IP (40164/61004 with the IP WeChat saw, 89501–89507 awaiting
the administrator), and the account's menu: every link button should open a
site this configuration protects. For a WeCom (wecom) site they call the
wecom block's api_base: the corp ID and Secret (gettoken: 40013, 40001),
this machine's IP (60020 with the IP WeCom saw: add it to 企业可信IP), and
the app as agent/get describes it: another app's Secret (301002), disabled,
its 可信域名 against the site's callback host (port included), its visible
range against allow_users and allow_departments. Offline, a WeCom site must
serve WeCom's WW_verify_….txt at its root (--wecom-verify-file checks its
content). Run it where Caddy runs, with the same
environment: {env.X} placeholders are expanded as Caddy does. Secrets are
never printed.

Exit status: 0 all good, 1 problems found, 2 could not check (no
configuration, no wechat_auth, or an online check that could not run).`

func doctorFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayP("config", "c", nil, "Configuration file; repeat for the files of other replicas")
	fs.StringP("adapter", "a", "", "Name of config adapter to apply (default: caddyfile for Caddyfiles)")
	fs.Bool("offline", false, "Do not call WeChat or WeCom")
	fs.Bool("json", false, "Print the report as JSON (for CI)")
	fs.String("verify-file", "", "The MP_verify_….txt file WeChat gave for the 网页授权域名 check")
	fs.String("wecom-verify-file", "", "The WW_verify_….txt file WeCom gave for a WeCom app's 可信域名")
	fs.StringArray("domain", nil, "A 网页授权域名 setting as entered in the console (wx.example.com or wx.example.com/path); repeat for the second")
	fs.Duration("timeout", 10*time.Second, "Time limit for each call to WeChat")
}

// doctorExit makes caddycmd.Main exit with code; the report said why.
func doctorExit(cmd *cobra.Command, code int) error {
	if code == doctorExitOK {
		return nil
	}
	cmd.SilenceErrors = true
	if code > 1 {
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(cmd, nil)
	}
	return errDoctorProblems
}

var errDoctorProblems = errors.New("wechat-doctor found problems")

// doctorOptions is what one run checks.
type doctorOptions struct {
	Configs    []string
	Adapter    string
	Offline    bool
	JSON       bool
	VerifyFile string
	WeComFile  string // --wecom-verify-file
	Domains    []string
	Timeout    time.Duration
}

func runDoctorCmd(cmd *cobra.Command, stdout, stderr io.Writer) int {
	fs := cmd.Flags()
	var o doctorOptions
	o.Configs, _ = fs.GetStringArray("config")
	o.Adapter, _ = fs.GetString("adapter")
	o.Offline, _ = fs.GetBool("offline")
	o.JSON, _ = fs.GetBool("json")
	o.VerifyFile, _ = fs.GetString("verify-file")
	o.WeComFile, _ = fs.GetString("wecom-verify-file")
	o.Domains, _ = fs.GetStringArray("domain")
	o.Timeout, _ = fs.GetDuration("timeout")
	return runDoctor(cmd.Context(), o, stdout, stderr)
}

// runDoctorArgs runs `caddy wechat-doctor args...` through the same cobra
// command the binary registers (tests use it).
func runDoctorArgs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code := doctorExitUnchecked
	root := &cobra.Command{Use: "caddy", SilenceUsage: true, SilenceErrors: true}
	doc := &cobra.Command{Use: "wechat-doctor", Long: doctorLong}
	doctorFlags(doc)
	doc.RunE = func(cmd *cobra.Command, _ []string) error {
		code = runDoctorCmd(cmd, stdout, stderr)
		return nil
	}
	root.AddCommand(doc)
	root.SetArgs(append([]string{"wechat-doctor"}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "wechat-doctor: %v\n", err)
		return doctorExitUnchecked
	}
	return code
}

// runDoctor checks the configurations and prints the report; it returns the
// exit status.
func runDoctor(ctx context.Context, o doctorOptions, stdout, stderr io.Writer) int {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	r := &doctorReport{}
	sites := doctorLoad(r, o)
	if len(sites) > 0 {
		doctorCheck(ctx, r, sites, o)
	}
	if o.JSON {
		if err := r.writeJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "wechat-doctor: %v\n", err)
			return doctorExitUnchecked
		}
	} else {
		r.writeText(stdout)
	}
	return r.exitCode()
}

// doctorLoad adapts every file and finds its wechat_auth handlers; what
// cannot be read is reported as unchecked.
func doctorLoad(r *doctorReport, o doctorOptions) []*authSite {
	if len(o.Configs) == 0 {
		r.unchecked("configuration", "config", "no configuration given", "pass --config Caddyfile (repeat --config for each replica's file)")
		return nil
	}
	var sites []*authSite
	var configs []*doctorConfig
	for _, file := range o.Configs {
		cfg, err := loadDoctorConfig(file, o.Adapter)
		if err != nil {
			r.unchecked(file, "config", err.Error(), adaptFix(file))
			if src, rerr := os.ReadFile(file); rerr == nil && len((&doctorConfig{File: file, Source: src}).dollarSecrets()) > 0 {
				r.problem(file, "secret_in_config", "a secret is written as {$VAR}: the Caddyfile adapter replaces it while adapting (with nothing when VAR is not set, as here), so where it is set the secret lands in the adapted JSON",
					"write app_secret {env.WECHAT_APP_SECRET}, session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY} and the wecom block's secret {env.WECOM_SECRET}: Caddy reads them when it starts")
			}
			continue
		}
		configs = append(configs, cfg)
		found, err := cfg.sites()
		if err != nil {
			r.unchecked(file, "config", err.Error(), "")
			continue
		}
		if len(found) == 0 {
			if uri := cfg.forwardAuthURI(); uri != "" {
				r.note(file, "config", "a forward-auth front: it asks a separate gateway ("+uri+") and has no wechat_auth of its own, so the logins are checked on the gateway's configuration",
					"run the doctor on the gateway's file too: caddy wechat-doctor --config gateway.Caddyfile")
			} else {
				r.unchecked(file, "config", "no wechat_auth handler in this configuration", "add wechat_auth { app_id … app_secret {env.WECHAT_APP_SECRET} } to the site it protects")
			}
		}
		sites = append(sites, found...)
	}
	checkStore(r, configs)
	checkComponent(r, configs)
	checkOrder(r, configs)
	nameSites(sites)
	for _, s := range sites {
		r.Sites = append(r.Sites, reportSite{Site: s.Name(), File: s.Config.File, AppID: s.Auth.AppID, Scope: s.Auth.scope(), Callback: s.CallbackURL()})
	}
	return sites
}

func doctorCheck(ctx context.Context, r *doctorReport, sites []*authSite, o doctorOptions) {
	var settings []domainSetting
	for _, d := range o.Domains {
		settings = append(settings, parseDomainSetting(d))
	}
	var vf *verifyFile
	if o.VerifyFile != "" {
		var err error
		if vf, err = readVerifyFile(o.VerifyFile); err != nil {
			r.unchecked("configuration", "mp_verify", err.Error(), "")
		}
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	defer cancel()
	e := &routeEval{ctx: cctx}
	var wf *verifyFile
	if o.WeComFile != "" {
		var err error
		if wf, err = readWeComVerifyFile(o.WeComFile); err != nil {
			r.unchecked("configuration", "wecom_verify", err.Error(), "")
		}
	}
	sites, wecom := checkWeComSites(r, e, sites, wf)
	handlers := map[*doctorServer]map[string]bool{}
	for _, s := range sites {
		checkCallback(r, s, settings)
		// Handler-wide checks once per handler, not once per host.
		key := fmt.Sprintf("%s|%+v", s.Config.File, s.Auth)
		if handlers[s.Server] == nil {
			handlers[s.Server] = map[string]bool{}
		}
		if !handlers[s.Server][key] {
			handlers[s.Server][key] = true
			checkHandler(r, s)
		}
		if s.registers() {
			checkVerify(r, e, s, vf, settings)
		}
	}
	checkAccounts(r, sites, settings)
	checkRelays(r, sites)
	if o.Offline {
		return
	}
	checkWeComOnline(ctx, r, wecom, o.Timeout)
	checkOnline(ctx, r, sites, o.Timeout)
}
