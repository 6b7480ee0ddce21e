package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-session",
		Usage: "revoke --app <appid> --openid <openid> [--store <url>] [--session-ttl <duration>] [--key-prefix <prefix>]",
		Short: "Ends the sessions of one WeChat user on every gateway replica",
		Long:  sessionLong,
		CobraFunc: func(cmd *cobra.Command) {
			sessionFlags(cmd.Flags())
			cmd.Args = cobra.ExactArgs(1)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				defer cancel()
				return runSession(ctx, args[0], cmd.Flags(), cmd.OutOrStdout())
			}
		},
	})
}

const sessionLong = `
revoke ends every existing session of one visitor (a lost phone, a
compromised account) on every gateway that shares the store, within about
2 seconds. The person can sign in again through WeChat afterwards; a session
issued later is not affected.

--store is the Redis/Valkey URL of the gateways' global option
wechat { store ... }. It may be a {env.NAME} or {file.PATH} placeholder, and
defaults to {env.WECHAT_STORE}: prefer that to a URL with a password on the
command line, which other users of the machine can see.

--app is the handler's app_id; --openid the visitor's openid (the
X-WeChat-OpenID header, or user_id in Caddy's access log).

--session-ttl is how long the revocation is kept (default 168h, the default
session_ttl). Gateways announce their session_ttl to the store, and the
longer of the two is used.

The command fails, and revokes nothing, when the store is unreachable.
Without a store, gateways keep sessions in their cookies only: restart them
with new session_keys to end every session at once.`

func sessionFlags(fs *pflag.FlagSet) {
	fs.String("store", "{env.WECHAT_STORE}", "Redis/Valkey URL of the gateways' wechat store (placeholders allowed)")
	fs.String("app", "", "The handler's app_id")
	fs.String("openid", "", "The visitor's openid")
	fs.Duration("session-ttl", 168*time.Hour, "How long to keep the revocation (at least the gateways' session_ttl)")
	fs.String("key-prefix", "wechat_auth:", "The wechat key_prefix setting, if the gateways changed it")
}

// runSession runs one wechat-session subcommand; tests call it without a
// process.
func runSession(ctx context.Context, sub string, fs *pflag.FlagSet, stdout io.Writer) error {
	if sub != "revoke" {
		return fmt.Errorf("unknown subcommand %q: use 'caddy wechat-session revoke --app APPID --openid OPENID'", sub)
	}
	raw, _ := fs.GetString("store")
	app, _ := fs.GetString("app")
	openID, _ := fs.GetString("openid")
	ttl, _ := fs.GetDuration("session-ttl")
	prefix, _ := fs.GetString("key-prefix")
	if app == "" || openID == "" {
		return errors.New("--app and --openid are required: caddy wechat-session revoke --app APPID --openid OPENID")
	}
	if ttl <= 0 {
		return errors.New("--session-ttl must be positive, e.g. 168h")
	}
	store, err := caddy.NewReplacer().ReplaceOrErr(raw, true, true)
	if err != nil || store == "" {
		return errors.New("--store is empty: set WECHAT_STORE or pass --store with the gateways' wechat store URL, e.g. redis://127.0.0.1:6379/0")
	}
	r, note, err := wechatauth.RevokeOpenID(ctx, store, prefix, app, openID, ttl)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(stdout, "note: "+note)
	}
	fmt.Fprintf(stdout, "revoked every session of openid %s at %s issued until %s; gateways sharing the store refuse them within 2 s (kept until %s); the person can sign in again\n",
		r.OpenID, r.AppID, time.UnixMilli(r.IssuedBefore).UTC().Format(time.RFC3339), time.Unix(r.Until, 0).UTC().Format(time.RFC3339))
	return nil
}
