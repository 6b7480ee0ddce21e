// Command caddy is the custom Caddy build that includes the wechat_auth
// module: exactly what `xcaddy build --with github.com/wxgate/caddy-wechat-auth`
// would generate.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/wxgate/caddy-wechat-auth"
)

func main() {
	caddycmd.Main()
}
