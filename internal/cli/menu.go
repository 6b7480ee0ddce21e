package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-menu",
		Usage: "validate|push|diff <file> | get | delete [--app-id <appid>] [--app-secret <secret>] [--api-base <url>]",
		Short: "Checks, pushes, shows, compares and deletes an Official Account's custom menu",
		Long:  menuLong,
		CobraFunc: func(cmd *cobra.Command) {
			menuSetup(cmd, &menuCLI{env: os.Getenv, stdout: os.Stdout, stderr: os.Stderr})
		},
	})
}

const menuLong = `
Manages the custom menu (自定义菜单) of a WeChat Official Account: the buttons
under the chat that take visitors to pages behind wechat_auth.

  validate FILE   check FILE offline against WeChat's menu rules; every
                  problem is printed with its JSON path, e.g.
                  button[1].sub_button[4].name: 63 bytes, limit 60
  push FILE       validate FILE, then make it the account's menu
  get             print the live menu as JSON that push accepts back
  diff FILE       show what push FILE would change in the live menu
  delete          delete the account's menu

FILE is the JSON body of cgi-bin/menu/create: {"button": [...]}.
Names are limited in UTF-8 bytes: 16 for a top-level button (5 Chinese
characters), 60 for a sub-button (20 Chinese characters).

Every command but validate calls WeChat with the account's AppID and
AppSecret, from --app-id and --app-secret or from the WECHAT_APP_ID and
WECHAT_APP_SECRET environment variables (prefer the variables: command-line
arguments are visible to other users of the machine). WeChat only answers
servers whose public IP is in the account's IP whitelist (公众平台 → 基本配置).
--api-base points the commands at another API server, such as the simulator
started by 'caddy wechat-mock'.

WeChat clients pick up a new menu within about 5 minutes; unfollowing and
following the account again shows it at once.

Exit status: 0 on success, 1 when the menu has problems or WeChat refused the
call, 2 on wrong usage or missing credentials.`

// Exit statuses. caddycmd.Main passes them to os.Exit (see menuExit).
const (
	menuExitOK     = 0
	menuExitFailed = 1
	menuExitUsage  = 2
)

// menuCLI holds what a run of the command talks to, so tests can give their
// own environment and output instead of the process's.
type menuCLI struct {
	env            func(string) string
	stdout, stderr io.Writer
	code           int // exit status of the last subcommand run, read by runMenu
}

// runMenu runs `caddy wechat-menu args...` exactly as caddycmd.Main would,
// through the same cobra command tree, and returns the exit status.
func runMenu(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	c := &menuCLI{env: env, stdout: stdout, stderr: stderr}
	root := &cobra.Command{Use: "caddy", SilenceUsage: true, SilenceErrors: true}
	menu := &cobra.Command{Use: "wechat-menu", Long: menuLong}
	menuSetup(menu, c)
	root.AddCommand(menu)
	root.SetArgs(append([]string{"wechat-menu"}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil && c.code == menuExitOK {
		// Whatever cobra refused before reaching our code.
		fmt.Fprintf(stderr, "wechat-menu: %v\n", err)
		return menuExitUsage
	}
	return c.code
}

// menuSetup gives cmd (the wechat-menu command) its flags and subcommands.
func menuSetup(cmd *cobra.Command, c *menuCLI) {
	cmd.PersistentFlags().String("app-id", "", "the Official Account's AppID (default $WECHAT_APP_ID)")
	cmd.PersistentFlags().String("app-secret", "", "the Official Account's AppSecret (default $WECHAT_APP_SECRET)")
	cmd.PersistentFlags().String("api-base", wechat.DefaultAPIBase, "WeChat API server, e.g. the simulator's URL")
	cmd.PersistentFlags().Duration("timeout", 10*time.Second, "time limit for each call to WeChat")
	// Flag mistakes are usage errors too, with the same status and prefix.
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		c.code = c.usage("%v", err)
		return menuExit(cmd, c.code)
	})
	cmd.RunE = c.wrap(func(_ context.Context, cmd *cobra.Command, args []string) int {
		if len(args) == 0 {
			cmd.SetOut(c.stderr)
			_ = cmd.Help()
			return menuExitUsage
		}
		return c.usage("unknown subcommand %q: use validate, push, get, diff or delete", args[0])
	})
	cmd.AddCommand(
		&cobra.Command{
			Use:     "validate FILE",
			Short:   "Checks a menu file offline against WeChat's menu rules",
			Long:    "Checks FILE against WeChat's menu rules without calling WeChat and prints every\nproblem with its JSON path. Exits 1 when there is any.",
			Example: "  caddy wechat-menu validate examples/menu.json",
			RunE:    c.wrap(c.validate),
		},
		&cobra.Command{
			Use:     "push FILE",
			Short:   "Validates a menu file, then makes it the account's menu",
			Long:    "Validates FILE like 'validate' and, when it has no problems, makes it the\naccount's menu (cgi-bin/menu/create). WeChat clients show it within about 5 minutes.",
			Example: "  WECHAT_APP_ID=wx... WECHAT_APP_SECRET=... caddy wechat-menu push examples/menu.json",
			RunE:    c.wrap(c.push),
		},
		&cobra.Command{
			Use:     "get",
			Short:   "Prints the account's live menu as JSON that push accepts back",
			Example: "  caddy wechat-menu get > menu.json",
			RunE:    c.wrap(c.get),
		},
		&cobra.Command{
			Use:     "diff FILE",
			Short:   "Shows what push FILE would change in the live menu",
			Long:    "Compares the live menu with FILE, both as normalized JSON, and prints the\nchanged lines ('-' live, '+' FILE), or \"no changes\".",
			Example: "  caddy wechat-menu diff examples/menu.json",
			RunE:    c.wrap(c.diff),
		},
		&cobra.Command{
			Use:   "delete",
			Short: "Deletes the account's menu",
			RunE:  c.wrap(c.delete),
		},
	)
}

// wrap adapts a subcommand returning an exit status to cobra's RunE.
func (c *menuCLI) wrap(f func(ctx context.Context, cmd *cobra.Command, args []string) int) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c.code = f(cmd.Context(), cmd, args)
		return menuExit(cmd, c.code)
	}
}

// errMenuFailed makes caddycmd.Main exit with status 1; what failed has
// already been printed.
var errMenuFailed = errors.New("wechat-menu failed")

// menuExit turns an exit status into the error caddycmd.Main understands.
// Main exits with the status of its unexported exitError, which only
// WrapCommandFuncForCobra makes (for statuses above 1); any other error
// exits 1.
func menuExit(cmd *cobra.Command, code int) error {
	if code == menuExitOK {
		return nil
	}
	cmd.SilenceErrors = true // the reason was printed already
	if code > 1 {
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(cmd, nil)
	}
	return errMenuFailed
}

func (c *menuCLI) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "wechat-menu: "+format+"\n", args...)
	return menuExitUsage
}

func (c *menuCLI) validate(_ context.Context, _ *cobra.Command, args []string) int {
	if len(args) != 1 {
		return c.usage("validate needs one menu file: caddy wechat-menu validate FILE")
	}
	m, code := c.load(args[0])
	if code != menuExitOK {
		return code
	}
	if c.report(args[0], m) {
		return menuExitFailed
	}
	fmt.Fprintf(c.stdout, "%s: ok, %s fit WeChat's menu rules\n", args[0], menuCount(m))
	return menuExitOK
}

func (c *menuCLI) push(ctx context.Context, cmd *cobra.Command, args []string) int {
	if len(args) != 1 {
		return c.usage("push needs one menu file: caddy wechat-menu push FILE")
	}
	m, code := c.load(args[0])
	if code != menuExitOK {
		return code
	}
	if c.report(args[0], m) {
		fmt.Fprintf(c.stderr, "%s: not pushed; fix the problems above first\n", args[0])
		return menuExitFailed
	}
	client, secret, code := c.client(cmd)
	if code != menuExitOK {
		return code
	}
	if err := client.CreateMenu(ctx, m); err != nil {
		return c.fail("push", err, secret)
	}
	fmt.Fprintf(c.stdout, "pushed %s (%s) to %s; WeChat clients show it within about 5 minutes\n",
		args[0], menuCount(m), client.AppID())
	return menuExitOK
}

func (c *menuCLI) get(ctx context.Context, cmd *cobra.Command, args []string) int {
	if len(args) != 0 {
		return c.usage("get takes no arguments: caddy wechat-menu get > menu.json")
	}
	client, secret, code := c.client(cmd)
	if code != menuExitOK {
		return code
	}
	m, err := client.GetMenu(ctx)
	if wechat.Code(err) == 46003 {
		fmt.Fprintf(c.stderr, "wechat-menu get: %s has no menu (errcode 46003); create one with: caddy wechat-menu push FILE\n", client.AppID())
		return menuExitFailed
	}
	if err != nil {
		return c.fail("get", err, secret)
	}
	_, _ = c.stdout.Write(menuEncode(m))
	return menuExitOK
}

func (c *menuCLI) delete(ctx context.Context, cmd *cobra.Command, args []string) int {
	if len(args) != 0 {
		return c.usage("delete takes no arguments: caddy wechat-menu delete")
	}
	client, secret, code := c.client(cmd)
	if code != menuExitOK {
		return code
	}
	if err := client.DeleteMenu(ctx); err != nil {
		return c.fail("delete", err, secret)
	}
	fmt.Fprintf(c.stdout, "deleted the menu of %s; WeChat clients drop it within about 5 minutes\n", client.AppID())
	return menuExitOK
}

func (c *menuCLI) diff(ctx context.Context, cmd *cobra.Command, args []string) int {
	if len(args) != 1 {
		return c.usage("diff needs one menu file: caddy wechat-menu diff FILE")
	}
	m, code := c.load(args[0])
	if code != menuExitOK {
		return code
	}
	client, secret, code := c.client(cmd)
	if code != menuExitOK {
		return code
	}
	live, err := client.GetMenu(ctx)
	liveName := "live menu of " + client.AppID()
	var liveJSON []byte // an account without a menu compares as empty
	switch {
	case wechat.Code(err) == 46003:
		liveName += " (none)"
	case err != nil:
		return c.fail("diff", err, secret)
	default:
		liveJSON = menuEncode(live)
	}
	if !menuUnifiedDiff(c.stdout, liveName, args[0], menuLines(liveJSON), menuLines(menuEncode(m))) {
		fmt.Fprintf(c.stdout, "no changes: the %s already matches %s\n", liveName, args[0])
	}
	if c.report(args[0], m) {
		fmt.Fprintf(c.stderr, "%s: push would refuse it; fix the problems above first\n", args[0])
		return menuExitFailed
	}
	return menuExitOK
}

// load reads a menu file strictly: a misspelt field such as "sub_buttons"
// would otherwise vanish silently and push a different menu than intended.
func (c *menuCLI) load(path string) (*wechat.Menu, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "wechat-menu: %v\n", err)
		return nil, menuExitFailed
	}
	m, err := menuDecode(data)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", path, err)
		return nil, menuExitFailed
	}
	return m, menuExitOK
}

// report prints every problem ValidateMenu finds in m and says whether there was any.
func (c *menuCLI) report(path string, m *wechat.Menu) bool {
	problems := wechat.ValidateMenu(m)
	for _, p := range problems {
		fmt.Fprintf(c.stderr, "%s: %s (WeChat would answer errcode %d)\n", path, p, p.Code)
	}
	if n := len(problems); n > 0 {
		fmt.Fprintf(c.stderr, "%s: %d problem%s\n", path, n, menuPlural(n))
	}
	return len(problems) > 0
}

// client builds a WeChat client from the flags, falling back to the
// environment. It also returns the secret, which fail keeps out of output.
func (c *menuCLI) client(cmd *cobra.Command) (*wechat.Client, string, int) {
	flag := func(name string) string { return cmd.Flag(name).Value.String() }
	appID, secret := flag("app-id"), flag("app-secret")
	if appID == "" {
		appID = c.env("WECHAT_APP_ID")
	}
	if secret == "" {
		secret = c.env("WECHAT_APP_SECRET")
	}
	var missing []string
	if appID == "" {
		missing = append(missing, "the AppID: pass --app-id or set WECHAT_APP_ID")
	}
	if secret == "" {
		missing = append(missing, "the AppSecret: pass --app-secret or set WECHAT_APP_SECRET")
	}
	if len(missing) > 0 {
		for _, m := range missing {
			fmt.Fprintf(c.stderr, "wechat-menu %s: missing %s (公众平台 → 基本配置)\n", cmd.Name(), m)
		}
		return nil, "", menuExitUsage
	}
	timeout, err := cmd.Flags().GetDuration("timeout")
	if err != nil || timeout <= 0 {
		return nil, "", c.usage("--timeout must be a positive duration such as 10s")
	}
	client, err := wechat.New(wechat.Config{AppID: appID, AppSecret: secret, APIBase: flag("api-base"), Timeout: timeout})
	if err != nil {
		return nil, "", c.usage("%s", menuRedact(err.Error(), secret))
	}
	return client, secret, menuExitOK
}

// fail prints what WeChat said, what it means and what to do about it.
// The wechat package keeps secrets and tokens out of its errors; the secret
// is redacted here once more because a leaked AppSecret hands over the account.
func (c *menuCLI) fail(sub string, err error, secret string) int {
	var ae *wechat.APIError
	if !errors.As(err, &ae) {
		fmt.Fprintf(c.stderr, "wechat-menu %s: %s\n", sub, menuRedact(err.Error(), secret))
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(c.stderr, "  what to do: check that this machine reaches the API server, or raise --timeout\n")
		}
		return menuExitFailed
	}
	msg := ""
	if ae.Msg != "" {
		msg = " (" + ae.Msg + ")"
	}
	fmt.Fprintf(c.stderr, "wechat-menu %s: WeChat answered %s with errcode %d%s\n",
		sub, ae.Op, ae.Code, menuRedact(msg, secret))
	if hint := ae.Hint(); hint != "" {
		fmt.Fprintf(c.stderr, "  what to do: %s\n", hint)
	}
	return menuExitFailed
}

func menuRedact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[app secret]")
}
