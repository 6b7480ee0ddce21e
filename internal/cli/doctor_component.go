package cli

import (
	"strings"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// checkComponent: a third-party platform (wechat { component { … } }) must
// have the console's shapes of settings, as Caddy will refuse otherwise,
// and a route to wechat_component_events, without which WeChat's ticket
// pushes reach nothing and every login fails within 12 hours
// (docs/third-party.md).
func checkComponent(r *doctorReport, configs []*doctorConfig) {
	for _, c := range configs {
		if c.Component == nil {
			continue
		}
		if err := wechatauth.CheckComponent(c.Component); err != nil {
			r.problem(c.File, "component", err.Error(), "copy the setting from the Open Platform console → 第三方平台 → 开发资料, into the variable or file it reads")
		} else {
			r.ok(c.File, "component", "the third-party platform's settings have the console's shapes (AppID, AppSecret, Token, 43-character EncodingAESKey)")
		}
		if !strings.Contains(string(c.Source), "wechat_component_events") {
			r.problem(c.File, "component_events", "the third-party platform has no wechat_component_events route: WeChat's component_verify_ticket pushes reach nothing, and sign-ins through the platform fail",
				"add wechat_component_events /wechat/component/events to the platform's site and set that URL as 授权事件接收URL in the Open Platform console")
		}
	}
}
