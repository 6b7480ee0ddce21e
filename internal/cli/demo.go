package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the Caddyfile adapter
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	_ "github.com/wxgate/caddy-wechat-auth/caddymodule" // wechat_auth
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-demo",
		Usage: "[--listen <addr>] [--mock-listen <addr>]",
		Short: "Runs a clickable demo: WeChat simulator, wechat_auth gateway and a phone-binding page",
		Long:  demoLong,
		CobraFunc: func(cmd *cobra.Command) {
			demoFlags(cmd.Flags())
			cmd.RunE = func(cmd *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				listen, _ := cmd.Flags().GetString("listen")
				mockListen, _ := cmd.Flags().GetString("mock-listen")
				return runDemo(ctx, demoOptions{Listen: listen, MockListen: mockListen}, cmd.OutOrStdout())
			}
		},
	})
}

const demoLong = `
Runs the whole product on this machine, no WeChat account needed:

  - the WeChat simulator (as caddy wechat-mock) with its demo Official
    Account and a website application (网站应用) of the same Open Platform
    account, and test users;
  - a demo app: a page that binds a mobile number to the visitor, by unionid
    when there is one, like examples/php, kept in memory;
  - the gateway: this Caddy with wechat_auth (scope snsapi_base: silent
    sign-in inside WeChat; desktop_login: scan-to-login on a computer) and
    reverse_proxy to the app.

Open the printed URL in a desktop browser: it shows WeChat's login QR code.
"Scan" it by opening the phone's page it links to, pick a test user, confirm,
and bind a number. Then be that user's phone: open the URL on localhost
instead of 127.0.0.1 (the computer's cookie stays behind) with a WeChat
User-Agent: you are signed in silently; press 完善资料 and 允许 (the consent
page asks only then, as WeChat requires) and the same number shows, found by
unionid. Everything listens on 127.0.0.1 only; Ctrl-C stops it all.

--listen is the gateway's address (the URL to open), --mock-listen the
simulator's; a bare port means 127.0.0.1:PORT.
`

// Environment variables the gateway's Caddyfile reads its secrets from: the
// demo shows the way the README asks for, never a secret inlined in config.
const (
	demoSecretEnv    = "WECHAT_DEMO_APP_SECRET"
	demoWebSecretEnv = "WECHAT_DEMO_WEB_APP_SECRET"
	demoHashKeyEnv   = "WECHAT_DEMO_HASH_KEY"
	demoBlockKeyEnv  = "WECHAT_DEMO_BLOCK_KEY"
	demoWeComEnv     = "WECHAT_DEMO_WECOM_SECRET"
)

// The demo's website application (网站应用) for desktop scan-to-login, bound
// with the simulator's default Official Account to one Open Platform
// account, so a person has one unionid in both.
const (
	demoWebAppID     = "wx0de5de5de5de5de5"
	demoWebAppSecret = "de5de5de5de5de5de5de5de5de5de5de"
	demoOpenPlatform = "demo-open-platform"
)

// demoSimulator is the WeChat the demo talks to, and the WeCom of the
// staff tab (wechattest.DefaultCorp, whose app trusts the gateway's port).
func demoSimulator(sitePort int) *wechattest.Simulator {
	return wechattest.New(
		wechattest.WithBoundApp(wechattest.DefaultAppID, wechattest.DefaultAppSecret, demoOpenPlatform),
		wechattest.WithWebsiteApp(demoWebAppID, demoWebAppSecret, demoOpenPlatform),
		wechattest.WithCorp(wechattest.DefaultCorp(strconv.Itoa(sitePort))))
}

func demoFlags(fs *pflag.FlagSet) {
	fs.String("listen", "127.0.0.1:8080", "Gateway address: the URL to open (loopback only)")
	fs.String("mock-listen", "127.0.0.1:9001", "WeChat simulator address (loopback only)")
}

// demoOptions configures runDemo; the zero value means the flags' defaults.
type demoOptions struct {
	Listen     string // gateway, e.g. 127.0.0.1:8080
	MockListen string // simulator, e.g. 127.0.0.1:9001
	// ready, if set, learns the addresses once everything listens (tests).
	ready func(demoURLs)
}

// demoURLs are the base URLs of the three parts of a running demo.
type demoURLs struct {
	Site, Mock, Upstream string
}

// runDemo starts the simulator, the demo app and the gateway (Caddy in this
// process), prints how to use them, and stops all three when ctx ends.
// Caddy holds one config per process: do not run two demos at once.
func runDemo(ctx context.Context, opts demoOptions, stdout io.Writer) error {
	sitePort, mockLn, upLn, err := demoListen(opts)
	if err != nil {
		return err
	}
	urls := demoURLs{
		Site:     "http://127.0.0.1:" + strconv.Itoa(sitePort),
		Mock:     "http://" + mockLn.Addr().String(),
		Upstream: "http://" + upLn.Addr().String(),
	}
	sim := demoSimulator(sitePort)
	bg := serveDemo(map[net.Listener]http.Handler{mockLn: sim, upLn: &demoApp{mockURL: urls.Mock}})
	bg.onStop = sim.Close // releases handlers a fault left hanging

	caddyfile, err := startDemoGateway(sitePort, urls)
	if err != nil {
		return errors.Join(err, bg.stop())
	}
	printDemo(stdout, sim, urls, caddyfile)
	if opts.ready != nil {
		opts.ready(urls)
	}

	select {
	case <-ctx.Done():
	case err := <-bg.errc: // a server died: stop the rest; bg.stop reports it
		bg.errc <- err
	}
	fmt.Fprintln(stdout, "\nStopping…")
	if err := errors.Join(caddy.Stop(), bg.stop()); err != nil {
		return fmt.Errorf("wechat-demo: %w", err)
	}
	fmt.Fprintln(stdout, "wechat-demo stopped")
	return nil
}

// demoListen checks the flags and takes the ports: the simulator's and the
// demo app's (kept open), and the gateway's, which is only tried: Caddy binds it
// itself, and trying first turns "address already in use" deep inside a config
// load into a message naming the flag.
func demoListen(opts demoOptions) (sitePort int, mockLn, upLn net.Listener, err error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8080"
	}
	if opts.MockListen == "" {
		opts.MockListen = "127.0.0.1:9001"
	}
	siteAddr, err := loopbackAddr("--listen", opts.Listen)
	if err != nil {
		return 0, nil, nil, err
	}
	mockAddr, err := loopbackAddr("--mock-listen", opts.MockListen)
	if err != nil {
		return 0, nil, nil, err
	}
	siteLn, err := listenFlag("--listen", siteAddr)
	if err != nil {
		return 0, nil, nil, err
	}
	sitePort = siteLn.Addr().(*net.TCPAddr).Port
	siteLn.Close()
	if mockLn, err = listenFlag("--mock-listen", mockAddr); err != nil {
		return 0, nil, nil, err
	}
	if upLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		mockLn.Close()
		return 0, nil, nil, fmt.Errorf("demo app: %w", err)
	}
	return sitePort, mockLn, upLn, nil
}

// demoServers are the plain HTTP servers of the demo (simulator, demo app).
type demoServers struct {
	servers []*http.Server
	errc    chan error // one Serve result per server
	onStop  func()
}

func serveDemo(handlers map[net.Listener]http.Handler) *demoServers {
	bg := &demoServers{errc: make(chan error, len(handlers))}
	for ln, h := range handlers {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		bg.servers = append(bg.servers, srv)
		go func() { bg.errc <- srv.Serve(ln) }()
	}
	return bg
}

// stop shuts the servers down (5s for requests in flight) and reports any
// server that had failed.
func (bg *demoServers) stop() error {
	if bg.onStop != nil {
		bg.onStop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range bg.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for range bg.servers {
		if err := <-bg.errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startDemoGateway loads the gateway's Caddyfile into this process's Caddy and
// returns the Caddyfile, which is worth showing: it is all a real site needs.
func startDemoGateway(port int, urls demoURLs) (string, error) {
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	for k, v := range map[string]string{
		demoSecretEnv:    wechattest.DefaultAppSecret,
		demoWebSecretEnv: demoWebAppSecret,
		demoHashKeyEnv:   base64.StdEncoding.EncodeToString(hashKey),
		demoBlockKeyEnv:  base64.StdEncoding.EncodeToString(blockKey),
		demoWeComEnv:     wechattest.DefaultAgentSecret,
	} {
		if err := os.Setenv(k, v); err != nil {
			return "", err
		}
	}
	caddyfile := demoCaddyfile(port, urls)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "wechat-demo"})
	if err != nil {
		return "", fmt.Errorf("adapting the demo Caddyfile: %w", err)
	}
	_ = warnings // formatting hints only: the Caddyfile is ours
	if err := caddy.Load(cfg, true); err != nil {
		_ = caddy.Stop()
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return "", fmt.Errorf("port %d was taken while starting: choose another with --listen (%w)", port, err)
		}
		return "", fmt.Errorf("starting the gateway: %w", err)
	}
	return caddyfile, nil
}

// demoCaddyfile is the gateway: wechat_auth in front of the demo app, pointed
// at the simulator. The logged-out page is left unprotected so that logging
// out shows something: the simulator remembers the user and the consent, so
// going back to / would sign straight in again. /staff (员工登录) is a
// second wechat_auth, WeCom's, with its own cookie and endpoints.
func demoCaddyfile(port int, urls demoURLs) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	grace_period 3s
	log {
		output stderr
		level ERROR
	}
}

http://127.0.0.1:%[1]d, http://localhost:%[1]d {
	bind 127.0.0.1
	@app not path /logged-out /staff /staff/*
	wechat_auth @app {
		app_id %[2]s
		app_secret {env.%[3]s}
		session_keys {env.%[4]s} {env.%[5]s}
		scope snsapi_base
		desktop_login %[8]s {env.%[9]s}
		api_base %[6]s
		open_base %[6]s
	}
	@staff path /staff /staff/*
	wechat_auth @staff {
		session_keys {env.%[4]s} {env.%[5]s}
		cookie_name wechat_staff
		path_prefix /staff/wechat_auth
		wecom %[10]s %[11]d {env.%[12]s} {
			api_base %[6]s
			open_base %[6]s
			login_base %[6]s
		}
	}
	reverse_proxy %[7]s
}
`, port, wechattest.DefaultAppID, demoSecretEnv, demoHashKeyEnv, demoBlockKeyEnv, urls.Mock, strings.TrimPrefix(urls.Upstream, "http://"),
		demoWebAppID, demoWebSecretEnv, wechattest.DefaultCorpID, wechattest.DefaultAgentID, demoWeComEnv)
}

// loopbackAddr accepts 8080, :8080, 127.0.0.1:8080 or localhost:8080 and
// returns 127.0.0.1:8080: the demo's secret is public, so it never leaves
// this machine.
func loopbackAddr(flag, v string) (string, error) {
	host, port := "", v
	if strings.Contains(v, ":") {
		var err error
		if host, port, err = net.SplitHostPort(v); err != nil {
			return "", fmt.Errorf("%s %q: write PORT or 127.0.0.1:PORT", flag, v)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%s %q: the port must be a number from 0 to 65535", flag, v)
	}
	switch host {
	case "", "127.0.0.1", "localhost":
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	return "", fmt.Errorf("%s %q: the demo listens on 127.0.0.1 only (its app secret is public); write 127.0.0.1:%s", flag, v, port)
}

// listenFlag listens on addr; when that fails it says which flag picks another.
func listenFlag(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		next := "0"
		if _, port, _ := net.SplitHostPort(addr); port != "" {
			if n, _ := strconv.Atoi(port); n > 0 && n < 65535 {
				next = strconv.Itoa(n + 1)
			}
		}
		return nil, fmt.Errorf("%s is already in use (is another demo running?): choose another port with %s, e.g. %s 127.0.0.1:%s", addr, flag, flag, next)
	}
	return nil, fmt.Errorf("cannot listen on %s: %w; choose another address with %s", addr, err, flag)
}
