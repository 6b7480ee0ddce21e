package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat-relay-key",
		Usage: "[--secret <placeholder>] <client origin>...",
		Short: "Prints the relay_key line of a site that signs in through a relay",
		Long:  relayKeyLong,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("secret", "{env.WECHAT_RELAY_SECRET}", "The relay's relay_secret, as a {env.NAME} or {file.PATH} placeholder")
			cmd.Args = cobra.MinimumNArgs(1)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				secret, _ := cmd.Flags().GetString("secret")
				return runRelayKey(secret, args, cmd.OutOrStdout())
			}
		},
	})
}

const relayKeyLong = `
Run where the relay's relay_secret is known. For each client origin (the
site's scheme and host as visitors see them, e.g. https://shop.example.com)
it prints the line that site's wechat_auth block needs:

	relay_key https://shop.example.com <key>

Hand the key to that site's operator (keep it out of the Caddyfile: an
{env.NAME} placeholder). The key lets the site open the relay's hand-backs
meant for it and nothing more: no other site's, and no session of the relay
or of another site. The relay keeps no list of keys: it derives a site's key
from relay_secret and the site's origin whenever it needs it.

--secret defaults to {env.WECHAT_RELAY_SECRET}; a secret on the command line
would be visible to other users of the machine, so only placeholders are
taken.`

// runRelayKey prints the relay_key line of each client origin.
func runRelayKey(secretRef string, origins []string, out io.Writer) error {
	if !strings.HasPrefix(secretRef, "{") {
		return errors.New("--secret takes a placeholder such as {env.WECHAT_RELAY_SECRET} or {file./run/secrets/relay_secret}, not the secret itself")
	}
	secret, err := caddy.NewReplacer().ReplaceOrErr(secretRef, true, true)
	if err != nil || strings.TrimSpace(secret) == "" {
		return fmt.Errorf("--secret %s is empty or unset: set it to the relay's relay_secret", secretRef)
	}
	for _, o := range origins {
		canonical, key, err := wechatauth.RelayClientKey(secret, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "relay_key %s %s\n", canonical, key)
	}
	return nil
}
