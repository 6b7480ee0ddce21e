package wechatauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestWeComCaddyfileBlock(t *testing.T) {
	d := caddyfile.NewTestDispenser(`wecom ww0123456789abcdef 1000002 {env.WECOM_SECRET} {
		scope privateinfo
		allow_users zhangsan wwlinked000000001/zhaoliu
		allow_departments 2 40
		allow_linked_corps wwlinked000000001
		allow_customers
		allow_non_members
		departments_ttl 5m
		api_base http://127.0.0.1:9001
	}`)
	d.Next()
	c, err := unmarshalWeCom(d)
	if err != nil {
		t.Fatal(err)
	}
	if c.CorpID != "ww0123456789abcdef" || c.AgentID != "1000002" || c.Secret != "{env.WECOM_SECRET}" || c.Scope != "privateinfo" ||
		len(c.AllowUsers) != 2 || len(c.AllowDepartments) != 2 || c.AllowDepartments[1] != 40 || !c.AllowCustomers ||
		!c.AllowNonMembers || len(c.AllowLinkedCorps) != 1 || time.Duration(c.DepartmentsTTL) != 5*time.Minute || c.APIBase != "http://127.0.0.1:9001" {
		t.Fatalf("parsed %+v", c)
	}
	// The block-only form.
	d = caddyfile.NewTestDispenser("wecom {\n corp_id ww1\n agent_id 7\n secret {file./run/secrets/wecom}\n}")
	d.Next()
	if c, err := unmarshalWeCom(d); err != nil || c.CorpID != "ww1" || c.AgentID != "7" || c.Secret != "{file./run/secrets/wecom}" {
		t.Fatalf("block form: %+v, %v", c, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"wecom ww1 7", "three values"},
		{"wecom ww1 7 s3cr3tvalue {\n secret other\n}", "secret is set twice"},
		{"wecom {\n allow_departments 研发部\n}", "not a department id"},
		{"wecom {\n allow_users\n}", "at least one"},
		{"wecom {\n allow_customers yes\n}", "takes no value"},
		{"wecom {\n departments_ttl 0\n}", "would mean the default"},
		{"wecom {\n visible_range 2\n}", "unknown wecom setting"},
	} {
		d := caddyfile.NewTestDispenser(tc.in)
		d.Next()
		_, err := unmarshalWeCom(d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3tvalue") {
			t.Errorf("%q: the error echoes the secret: %v", tc.in, err)
		}
	}
}

func TestWeComValidateNamesTheSetting(t *testing.T) {
	good := func() *WeCom {
		return &WeCom{CorpID: "ww0123456789abcdef", AgentID: "1000002", Secret: "{env.WECOM_SECRET}"}
	}
	c := good()
	c.setDefaults()
	if err := c.validate(); err != nil || c.Scope != wecomScopeBase || c.wecomScope() != "snsapi_base" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		edit func(*WeCom)
		want string
	}{
		{func(c *WeCom) { c.CorpID = "" }, "wecom corp_id is empty"},
		{func(c *WeCom) { c.CorpID = "ww 01" }, "wecom corp_id"},
		{func(c *WeCom) { c.AgentID = "app" }, "wecom agent_id"},
		{func(c *WeCom) { c.AgentID = "0" }, "wecom agent_id"},
		{func(c *WeCom) { c.Secret = "" }, "wecom secret is empty"},
		{func(c *WeCom) { c.Scope = "snsapi_userinfo" }, "wecom scope"},
		{func(c *WeCom) { c.AllowUsers = []string{"张三"} }, "wecom allow_users"},
		{func(c *WeCom) { c.AllowUsers = []string{"_x"} }, "wecom allow_users"},
		{func(c *WeCom) { c.AllowUsers = []string{"ww1/a/b"} }, "wecom allow_users"},
		{func(c *WeCom) { c.AllowDepartments = []int64{0} }, "wecom allow_departments"},
		{func(c *WeCom) { c.AllowLinkedCorps = []string{"ww0123456789ABCDEF"} }, "this corp's own corp_id"},
		{func(c *WeCom) { c.AllowLinkedCorps = []string{"ww-x"} }, "wecom allow_linked_corps"},
		{func(c *WeCom) { c.DepartmentsTTL = -1 }, "wecom departments_ttl"},
		{func(c *WeCom) { c.LoginBase = "login.work.weixin.qq.com" }, "wecom login_base"},
	} {
		c := good()
		tc.edit(c)
		c.setDefaults()
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
	c = good()
	c.Scope = "snsapi_privateinfo"
	c.AllowUsers = []string{"zhang.san@corp", "wwlinked000000001/zhaoliu"}
	c.setDefaults()
	if err := c.validate(); err != nil || c.Scope != wecomScopePrivateInfo || c.wecomScope() != "snsapi_privateinfo" {
		t.Fatalf("WeCom's own scope name and userid shapes: %+v, %v", c, err)
	}
}

func TestWeComSecretIsExpandedIntoACopyOnly(t *testing.T) {
	t.Setenv("WECOM_TEST_SECRET", "s3cr3t-of-the-app")
	t.Setenv("WECOM_TEST_CORP", "ww0123456789abcdef")
	repl := caddy.NewReplacer()
	exp := func(setting, v string) (string, error) {
		out, err := repl.ReplaceOrErr(v, true, true)
		if err != nil { // as the handler's expansion words it
			return "", errors.New(setting + ": a placeholder could not be expanded")
		}
		return strings.TrimSpace(out), nil
	}
	c := &WeCom{CorpID: "{env.WECOM_TEST_CORP}", AgentID: "1000002", Secret: "{env.WECOM_TEST_SECRET}"}
	c.setDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	x, err := c.expanded(exp)
	if err != nil || x.Secret != "s3cr3t-of-the-app" || x.CorpID != "ww0123456789abcdef" {
		t.Fatalf("expanded: %+v, %v", x, err)
	}
	if c.Secret != "{env.WECOM_TEST_SECRET}" {
		t.Fatalf("the configuration itself now holds the secret: %q", c.Secret)
	}
	c.Secret = "{env.WECOM_TEST_UNSET}"
	if _, err := c.expanded(exp); err == nil || !strings.HasPrefix(err.Error(), "wecom secret:") {
		t.Fatalf("unset secret variable: %v", err)
	}
	c.Secret, c.AgentID = "{env.WECOM_TEST_SECRET}", "{env.WECOM_TEST_CORP}"
	if _, err := c.expanded(exp); err == nil || !strings.Contains(err.Error(), "wecom agent_id") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("an agent_id that expands to a corp ID: %v", err)
	}
}
