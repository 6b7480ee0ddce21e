package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// wechat-mock's WeCom (企业微信) flags: one corp with one self-built app,
// for wechat_auth's wecom block to sign staff in against.

const mockWeComLong = `
--corp CORPID:AGENTID:SECRET adds a WeCom (企业微信) corp with one self-built
app (--corp demo: the demo corp ` + wechattest.DefaultCorpID + `, app 1000002). Its staff
sign in with a WeCom User-Agent on the authorize page, or on desktop by
scanning /wwlogin/sso/login's QR code (open /mock/wecom/scan to play the phone).
With it:
  --corp-domain HOST[:PORT]  the app's 可信域名 (repeatable). As on WeCom the
                             redirect_uri's host must match exactly, port
                             included (default: localhost and 127.0.0.1, no port)
  --member USERID[:NAME[:DEPT,...]]  a member (repeatable; default the demo's
                             zhangsan, lisi, wangwu and a linked-corp member)
  --department ID:PARENT[:NAME]  a department (repeatable; default 总部 1 with
                             研发部 2 > 后端组 3 and 销售部 4)
  --visible DEPT|USERID,...  the app's visible range (可见范围): department ids
                             (with their sub-departments) and userids
                             (default: department 2 and wangwu)
  --trusted-ip IP            the app's 企业可信IP (repeatable): data APIs called
                             from elsewhere answer 60020
`

// mockWeComFlags declares the WeCom flags on fs.
func mockWeComFlags(fs *pflag.FlagSet) {
	fs.String("corp", "", "WeCom corp and its self-built app as CORPID:AGENTID:SECRET, or demo for the demo corp")
	fs.StringArray("corp-domain", nil, "The WeCom app's trusted domain (可信域名) as HOST[:PORT], matched exactly (repeatable)")
	fs.StringArray("member", nil, "WeCom member as USERID[:NAME[:DEPT,DEPT]] (repeatable)")
	fs.StringArray("department", nil, "WeCom department as ID:PARENT[:NAME] (repeatable; PARENT 0 for the root)")
	fs.String("visible", "", "The WeCom app's visible range (可见范围) as DEPT|USERID,…")
	fs.StringArray("trusted-ip", nil, "The WeCom app's trusted IP (企业可信IP) (repeatable)")
}

// mockWeComOptions turns the WeCom flags into a WithCorp option (none
// without --corp; the other flags then are mistakes).
func mockWeComOptions(fs *pflag.FlagSet) ([]wechattest.Option, error) {
	spec, _ := fs.GetString("corp")
	if spec == "" {
		for _, f := range []string{"corp-domain", "member", "department", "visible", "trusted-ip"} {
			if fs.Changed(f) {
				return nil, fmt.Errorf("--%s describes a WeCom corp: add --corp CORPID:AGENTID:SECRET (or --corp demo)", f)
			}
		}
		return nil, nil
	}
	corp := wechattest.DefaultCorp("")
	app := &corp.Apps[0]
	if spec != "demo" {
		parts := strings.Split(spec, ":")
		agent, err := strconv.ParseInt(mockPart(parts, 1), 10, 64)
		if len(parts) != 3 || parts[0] == "" || parts[2] == "" || err != nil || agent <= 0 {
			return nil, fmt.Errorf("--corp %q: write CORPID:AGENTID:SECRET, e.g. ww0123456789abcdef:1000002:SECRET (AGENTID is a number), or demo", spec)
		}
		corp.ID, app.AgentID, app.Secret = parts[0], agent, parts[2]
	}
	if d, _ := fs.GetStringArray("corp-domain"); len(d) > 0 {
		for _, h := range d {
			if h == "" || strings.ContainsAny(h, "/*?# ") {
				return nil, fmt.Errorf("--corp-domain %q: write HOST or HOST:PORT, no scheme, path or wildcard (as 可信域名 takes it)", h)
			}
			if _, port, err := net.SplitHostPort(h); err == nil && port == "" {
				return nil, fmt.Errorf("--corp-domain %q: the port is empty", h)
			}
		}
		app.TrustedDomains = lowerAll(d)
	}
	if specs, _ := fs.GetStringArray("department"); len(specs) > 0 {
		corp.Departments = nil
		for _, s := range specs {
			parts := strings.SplitN(s, ":", 3)
			id, err1 := strconv.ParseInt(parts[0], 10, 64)
			parent, err2 := strconv.ParseInt(mockPart(parts, 1), 10, 64)
			if len(parts) < 2 || err1 != nil || err2 != nil || id <= 0 || parent < 0 {
				return nil, fmt.Errorf("--department %q: write ID:PARENT[:NAME] with numbers, PARENT 0 for the root", s)
			}
			corp.Departments = append(corp.Departments, wechattest.Department{ID: id, ParentID: parent, Name: mockPart(parts, 2)})
		}
	}
	if specs, _ := fs.GetStringArray("member"); len(specs) > 0 {
		corp.Members = nil
		for _, s := range specs {
			m, err := mockMember(s)
			if err != nil {
				return nil, err
			}
			corp.Members = append(corp.Members, m)
		}
	}
	if v, _ := fs.GetString("visible"); fs.Changed("visible") {
		app.VisibleDepartments, app.VisibleUsers = nil, nil
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x == "" {
				continue
			}
			if id, err := strconv.ParseInt(x, 10, 64); err == nil {
				app.VisibleDepartments = append(app.VisibleDepartments, id)
			} else {
				app.VisibleUsers = append(app.VisibleUsers, x)
			}
		}
	}
	app.TrustedIPs, _ = fs.GetStringArray("trusted-ip")
	for _, ip := range app.TrustedIPs {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("--trusted-ip %q is not an IP address", ip)
		}
	}
	return []wechattest.Option{wechattest.WithCorp(corp)}, nil
}

// mockMember parses USERID[:NAME[:DEPT,DEPT]].
func mockMember(spec string) (wechattest.Member, error) {
	parts := strings.SplitN(spec, ":", 3)
	m := wechattest.Member{UserID: parts[0], Name: mockPart(parts, 1)}
	if m.UserID == "" {
		return m, fmt.Errorf("--member %q: write USERID[:NAME[:DEPT,DEPT]]", spec)
	}
	if m.Name == "" {
		m.Name = m.UserID
	}
	for _, d := range strings.Split(mockPart(parts, 2), ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		id, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			return m, fmt.Errorf("--member %q: department %q is not a number", spec, d)
		}
		m.Departments = append(m.Departments, id)
	}
	return m, nil
}

func mockPart(parts []string, i int) string {
	if i < len(parts) {
		return parts[i]
	}
	return ""
}

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}
