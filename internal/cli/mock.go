package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-mock",
		Usage: "[--listen <addr>] [--app <appid>:<secret>[:<open-platform>]]... [--domain [<scheme>://]<host>[/<path>]]... [--user <name>[:<nickname>[:snapshot,follower]]]... [--any-browser] [--corp <corpid>:<agentid>:<secret>|demo [--corp-domain <host>[:<port>]]... [--member <userid>[:<name>[:<dept>,...]]]... [--department <id>:<parent>[:<name>]]... [--visible <dept>|<userid>,...] [--trusted-ip <ip>]...]",
		Short: "Serves a WeChat simulator for local development and tests",
		Long:  mockLong,
		CobraFunc: func(cmd *cobra.Command) {
			mockFlags(cmd.Flags())
			cmd.RunE = func(cmd *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return mockServe(ctx, cmd.Flags(), cmd.OutOrStdout(), nil)
			}
		},
	})
}

const mockLong = `
Serves a WeChat simulator: the authorize page of open.weixin.qq.com and the JSON
APIs of api.weixin.qq.com under WeChat's own paths, with WeChat's JSON shapes and
error codes. Point wechat_auth's api_base and open_base (or any WeChat SDK's base
URL) at it to develop and demo without a real Official Account.

--app APPID:SECRET adds an Official Account (repeatable; a demo app when none is
given). APPID:SECRET:OPENPLATFORM binds it to an Open Platform account, so apps
sharing OPENPLATFORM see the same unionid.

--domain [SCHEME://]HOST[/PATH] adds a registered callback domain setting
(网页授权域名; repeatable; default localhost, 127.0.0.1 and [::1]). As on
WeChat, redirect_uri's host must equal one exactly, without a port (even :443
is refused with error page 10003), and lie under PATH when one is given; with
SCHEME, the other scheme gets error page 10039. Only the loopback hosts ignore
the port, so local tests on 127.0.0.1:PORT work.

--user NAME[:NICKNAME[:snapshot,follower]] adds a test user (repeatable; a few
defaults with Chinese nicknames when none is given). Pick the user in the browser
at /mock/users, or send the header X-WeChat-Mock-User: NAME.

--any-browser lets desktop browsers use the authorize page; otherwise, as on the
real platform, only a WeChat User-Agent (MicroMessenger) may.

--component APPID:SECRET:TOKEN:ENCODINGAESKEY plays a third-party platform
(第三方平台): --authorizer APPID names accounts that authorized it (repeatable),
--component-domain HOST its 公众号开发域名 (redirect_uri on HOST or on
<authorizer AppID>.HOST), --push-url its 授权事件接收URL, where encrypted
component_verify_ticket pushes go every --push-every (WeChat: 10m), and
--component-ip its 白名单IP (api_component_token from elsewhere: 61004).

The simulator keeps everything in memory; stop it with Ctrl-C.
` + mockWeComLong

// mockFlags declares wechat-mock's flags on fs (cobra's, or a test's).
func mockFlags(fs *pflag.FlagSet) {
	fs.String("listen", "127.0.0.1:9001", "Address to listen on")
	fs.StringArray("app", nil, "Official Account as APPID:SECRET[:OPENPLATFORM] (repeatable)")
	fs.StringArray("website-app", nil, "Open Platform website application (desktop scan-to-login) as APPID:SECRET[:OPENPLATFORM]; its callback domains are the --domain settings (repeatable)")
	fs.StringArray("domain", nil, "Registered callback domain as [SCHEME://]HOST[/PATH] (repeatable)")
	fs.StringArray("user", nil, "Test user as NAME[:NICKNAME[:snapshot,follower]] (repeatable)")
	fs.Bool("any-browser", false, "Do not require a WeChat User-Agent on the authorize page")
	mockWeComFlags(fs)
	mockComponentFlags(fs)
}

// runMock parses args like the command line and serves until ctx ends; tests call it
// without a process. ready, if not nil, receives the base URL once listening.
func runMock(ctx context.Context, args []string, stdout io.Writer, ready func(baseURL string)) error {
	fs := pflag.NewFlagSet("wechat-mock", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mockFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return mockServe(ctx, fs, stdout, ready)
}

// mockOptions turns the parsed flags into simulator options.
func mockOptions(fs *pflag.FlagSet) ([]wechattest.Option, error) {
	var opts []wechattest.Option
	apps, _ := fs.GetStringArray("app")
	for _, a := range apps {
		parts := strings.Split(a, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("--app %q: write APPID:SECRET or APPID:SECRET:OPENPLATFORM", a)
		}
		if len(parts) == 3 {
			opts = append(opts, wechattest.WithBoundApp(parts[0], parts[1], parts[2]))
		} else {
			opts = append(opts, wechattest.WithApp(parts[0], parts[1]))
		}
	}
	domains, _ := fs.GetStringArray("domain")
	for _, d := range domains {
		if _, err := wechattest.ParseDomain(d); err != nil {
			return nil, fmt.Errorf("--domain: %w", err)
		}
	}
	if len(domains) > 0 {
		opts = append(opts, wechattest.WithDomains(domains...))
	}
	webApps, _ := fs.GetStringArray("website-app")
	for _, a := range webApps {
		parts := strings.Split(a, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("--website-app %q: write APPID:SECRET or APPID:SECRET:OPENPLATFORM", a)
		}
		parts = append(parts, "")
		opts = append(opts, wechattest.WithWebsiteApp(parts[0], parts[1], parts[2], domains...))
	}
	users, _ := fs.GetStringArray("user")
	for _, spec := range users {
		u, err := mockUser(spec)
		if err != nil {
			return nil, err
		}
		opts = append(opts, wechattest.WithUser(u))
	}
	if anyBrowser, _ := fs.GetBool("any-browser"); anyBrowser {
		opts = append(opts, wechattest.WithAnyBrowser())
	}
	corp, err := mockWeComOptions(fs)
	if err != nil {
		return nil, err
	}
	component, err := mockComponentOptions(fs)
	return append(append(opts, corp...), component...), err
}

// mockUser parses NAME[:NICKNAME[:snapshot,follower]].
func mockUser(spec string) (wechattest.User, error) {
	parts := strings.SplitN(spec, ":", 3)
	u := wechattest.User{Name: parts[0], Nickname: parts[0]}
	if u.Name == "" {
		return u, fmt.Errorf("--user %q: write NAME[:NICKNAME[:snapshot,follower]]", spec)
	}
	if len(parts) > 1 && parts[1] != "" {
		u.Nickname = parts[1]
	}
	if len(parts) > 2 {
		for _, f := range strings.Split(parts[2], ",") {
			switch strings.TrimSpace(f) {
			case "snapshot":
				u.Snapshot = true
			case "follower":
				u.Subscribed = true
			case "":
			default:
				return u, fmt.Errorf("--user %q: unknown flag %q; use snapshot and/or follower", spec, f)
			}
		}
	}
	return u, nil
}

// mockServe serves the simulator on --listen until ctx ends, then shuts down.
func mockServe(ctx context.Context, fs *pflag.FlagSet, stdout io.Writer, ready func(string)) error {
	opts, err := mockOptions(fs)
	if err != nil {
		return err
	}
	listen, _ := fs.GetString("listen")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; choose another address with --listen", listen, err)
	}
	sim := wechattest.New(opts...)
	base := "http://" + ln.Addr().String()
	fmt.Fprint(stdout, sim.Summary(base))
	fmt.Fprintf(stdout, "\nListening on %s (Ctrl-C to stop)\n", base)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(base)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sim.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stdout, "WeChat simulator stopped")
	return nil
}
