package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// mockComponentFlags declares the flags of the third-party platform the
// simulator can play (docs/third-party.md).
func mockComponentFlags(fs *pflag.FlagSet) {
	fs.String("component", "", "Third-party platform (第三方平台) as APPID:SECRET:TOKEN:ENCODINGAESKEY (43 characters)")
	fs.StringArray("component-domain", nil, "The platform's 公众号开发域名 as [SCHEME://]HOST; <authorizer AppID>.HOST subdomains qualify too (repeatable, at most 3)")
	fs.StringArray("authorizer", nil, "Official Account AppID that has authorized the platform at start (repeatable)")
	fs.String("push-url", "", "The platform's 授权事件接收URL: ticket and authorization pushes are POSTed there, encrypted")
	fs.Duration("push-every", 0, "Push a component_verify_ticket this often (WeChat: 10m); 0 pushes none by itself")
	fs.StringArray("component-ip", nil, "The platform's 白名单IP: api_component_token from other addresses answers 61004 (repeatable; none: all pass)")
}

// mockComponentOptions turns the platform flags into a simulator option;
// none when --component is not given (the other flags then are an error).
func mockComponentOptions(fs *pflag.FlagSet) ([]wechattest.Option, error) {
	spec, _ := fs.GetString("component")
	domains, _ := fs.GetStringArray("component-domain")
	authorizers, _ := fs.GetStringArray("authorizer")
	pushURL, _ := fs.GetString("push-url")
	every, _ := fs.GetDuration("push-every")
	ips, _ := fs.GetStringArray("component-ip")
	if spec == "" {
		if len(domains)+len(authorizers)+len(ips) > 0 || pushURL != "" || every != 0 {
			return nil, fmt.Errorf("--component-domain, --authorizer, --push-url, --push-every and --component-ip describe a platform: add --component APPID:SECRET:TOKEN:ENCODINGAESKEY")
		}
		return nil, nil
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, fmt.Errorf("--component: write APPID:SECRET:TOKEN:ENCODINGAESKEY")
	}
	if _, err := msgcrypt.ParseKey(parts[3]); err != nil {
		return nil, fmt.Errorf("--component: %v", err)
	}
	if len(domains) > 3 {
		return nil, fmt.Errorf("--component-domain: WeChat takes at most 3 公众号开发域名, got %d", len(domains))
	}
	for _, d := range domains {
		if _, err := wechattest.ParseDomain(d); err != nil {
			return nil, fmt.Errorf("--component-domain: %w", err)
		}
	}
	if every < 0 {
		return nil, fmt.Errorf("--push-every must not be negative")
	}
	return []wechattest.Option{wechattest.WithComponent(wechattest.Component{
		AppID: parts[0], Secret: parts[1], Token: parts[2], EncodingAESKey: parts[3],
		Domains: domains, Authorizers: authorizers, PushURL: pushURL, PushEvery: every, AllowedIPs: ips,
	})}, nil
}
