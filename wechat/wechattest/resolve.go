package wechattest

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// Resolve makes the browser reach every host ending in suffix (a
// third-party platform's <AppID>.wx.vendor.example, say), on port 80, at
// addr instead: a test serves such hosts on a loopback port while the URLs,
// the Host header and redirect_uri keep the names WeChat's domain rules
// check. It replaces Base with a transport without keep-alives.
func (b *Browser) Resolve(suffix, addr string) *Browser {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if strings.HasSuffix(hostport, suffix+":80") {
			hostport = addr
		}
		return dial(ctx, network, hostport)
	}
	b.Base = tr
	return b
}
