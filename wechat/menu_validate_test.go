package wechat

import (
	"reflect"
	"strings"
	"testing"
)

// menuTestValid is a menu using every button type; each case below breaks it
// in one place so the expected problem list is exactly that one problem.
func menuTestValid() *Menu {
	return &Menu{Button: []Button{
		{Name: "服务", SubButton: []Button{
			{Type: "view", Name: "绑定手机号", URL: "https://example.com/bind.php"},
			{Type: "miniprogram", Name: "小程序", URL: "https://example.com/", AppID: "wx286b93c14bbf93aa", PagePath: "pages/index/index"},
			{Type: "scancode_push", Name: "扫码", Key: "SCAN"},
			{Type: "pic_weixin", Name: "发图", Key: "PIC"},
			{Type: "location_select", Name: "位置", Key: "LOC"},
		}},
		{Name: "文章", SubButton: []Button{
			{Type: "article_id", Name: "文章", ArticleID: "ARTICLE"},
			{Type: "article_view_limited", Name: "图文", ArticleID: "ARTICLE2"},
			{Type: "media_id", Name: "素材", MediaID: "MEDIA"},
			{Type: "view_limited", Name: "图文消息", MediaID: "MEDIA2"},
			{Type: "scancode_waitmsg", Name: "扫码等待", Key: "WAIT"},
		}},
		{Type: "click", Name: "关于我们", Key: "ABOUT"},
	}}
}

func TestValidateMenuAcceptsEveryButtonType(t *testing.T) {
	if got := ValidateMenu(menuTestValid()); got != nil {
		t.Fatalf("ValidateMenu(valid) = %v, want none", got)
	}
}

func TestValidateMenuReportsEachRuleWithPathCodeAndMessage(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		modify func(m *Menu)
		want   MenuProblem
	}{
		{"no buttons", func(m *Menu) { m.Button = nil },
			MenuProblem{"button", 40016, "no buttons; a menu needs 1 to 3"}},
		{"fourth top-level button", func(m *Menu) {
			m.Button = append(m.Button, Button{Type: "click", Name: "更多", Key: "MORE"})
		}, MenuProblem{"button", 40016, "4 buttons, limit 3"}},
		{"top-level type missing", func(m *Menu) { m.Button[2].Type = "" },
			MenuProblem{"button[2].type", 40017, "required on a button without sub_button; one of " + menuTypeList}},
		{"top-level type unknown", func(m *Menu) { m.Button[2].Type = "link" },
			MenuProblem{"button[2].type", 40017, `unknown type "link"; one of ` + menuTypeList}},
		{"sub-button type unknown", func(m *Menu) { m.Button[0].SubButton[0].Type = "View" },
			MenuProblem{"button[0].sub_button[0].type", 40024, `unknown type "View"; one of ` + menuTypeList}},
		{"parent with type", func(m *Menu) { m.Button[0].Type = "view" },
			MenuProblem{"button[0].type", 40017, "must be empty on a button with sub_button"}},
		{"parent with key", func(m *Menu) { m.Button[0].Key = "K" },
			MenuProblem{"button[0].key", 40017, "must be empty on a button with sub_button"}},
		{"parent with url", func(m *Menu) { m.Button[1].URL = "https://example.com/" },
			MenuProblem{"button[1].url", 40017, "must be empty on a button with sub_button"}},
		{"top-level name missing", func(m *Menu) { m.Button[2].Name = "" },
			MenuProblem{"button[2].name", 40018, "required"}},
		{"top-level name 17 bytes", func(m *Menu) { m.Button[2].Name = long(17) },
			MenuProblem{"button[2].name", 40018, "17 bytes, limit 16"}},
		{"six Chinese characters are 18 bytes", func(m *Menu) { m.Button[0].Name = "我的账户服务" },
			MenuProblem{"button[0].name", 40018, "18 bytes, limit 16"}},
		{"sub-button name missing", func(m *Menu) { m.Button[1].SubButton[3].Name = "" },
			MenuProblem{"button[1].sub_button[3].name", 40025, "required"}},
		{"sub-button name 61 bytes", func(m *Menu) { m.Button[1].SubButton[4].Name = long(61) },
			MenuProblem{"button[1].sub_button[4].name", 40025, "61 bytes, limit 60"}},
		{"21 Chinese characters are 63 bytes", func(m *Menu) { m.Button[1].SubButton[4].Name = strings.Repeat("菜", 21) },
			MenuProblem{"button[1].sub_button[4].name", 40025, "63 bytes, limit 60"}},
		{"sixth sub-button", func(m *Menu) {
			m.Button[1].SubButton = append(m.Button[1].SubButton, Button{Type: "click", Name: "六", Key: "SIX"})
		}, MenuProblem{"button[1].sub_button", 40023, "6 sub-buttons, limit 5"}},
		{"third level", func(m *Menu) {
			m.Button[0].SubButton[2].SubButton = []Button{{Type: "click", Name: "x", Key: "x"}}
		}, MenuProblem{"button[0].sub_button[2].sub_button", 40022, "menus are two levels deep; a sub-button cannot have sub_button"}},
		{"click without key", func(m *Menu) { m.Button[2].Key = "" },
			MenuProblem{"button[2].key", 40019, "required for type click: the EventKey your server receives"}},
		{"top-level key 129 bytes", func(m *Menu) { m.Button[2].Key = long(129) },
			MenuProblem{"button[2].key", 40019, "129 bytes, limit 128"}},
		{"scancode without key", func(m *Menu) { m.Button[0].SubButton[2].Key = "" },
			MenuProblem{"button[0].sub_button[2].key", 40026, "required for type scancode_push: the EventKey your server receives"}},
		{"sub-button key 129 bytes", func(m *Menu) { m.Button[0].SubButton[4].Key = long(129) },
			MenuProblem{"button[0].sub_button[4].key", 40026, "129 bytes, limit 128"}},
		{"key limit applies to any type", func(m *Menu) { m.Button[0].SubButton[0].Key = long(200) },
			MenuProblem{"button[0].sub_button[0].key", 40026, "200 bytes, limit 128"}},
		{"view without url", func(m *Menu) { m.Button[0].SubButton[0].URL = "" },
			MenuProblem{"button[0].sub_button[0].url", 40027, "required for type view"}},
		{"top-level view without url", func(m *Menu) { m.Button[2] = Button{Type: "view", Name: "官网"} },
			MenuProblem{"button[2].url", 40020, "required for type view"}},
		{"top-level url 1025 bytes", func(m *Menu) {
			m.Button[2] = Button{Type: "view", Name: "官网", URL: "https://example.com/" + long(1005)}
		}, MenuProblem{"button[2].url", 40020, "1025 bytes, limit 1024"}},
		{"sub-button url 1025 bytes", func(m *Menu) { m.Button[0].SubButton[0].URL = "https://example.com/" + long(1005) },
			MenuProblem{"button[0].sub_button[0].url", 40027, "1025 bytes, limit 1024"}},
		{"top-level url scheme", func(m *Menu) { m.Button[2] = Button{Type: "view", Name: "官网", URL: "ftp://example.com/"} },
			MenuProblem{"button[2].url", 40055, `must be an absolute http:// or https:// URL, got "ftp://example.com/"`}},
		{"sub-button relative url", func(m *Menu) { m.Button[0].SubButton[0].URL = "/bind.php" },
			MenuProblem{"button[0].sub_button[0].url", 40054, `must be an absolute http:// or https:// URL, got "/bind.php"`}},
		{"sub-button url without host", func(m *Menu) { m.Button[0].SubButton[0].URL = "https:///bind.php" },
			MenuProblem{"button[0].sub_button[0].url", 40054, "has no host; write it as https://example.com/path"}},
		{"url with space", func(m *Menu) { m.Button[0].SubButton[0].URL = "https://example.com/a b" },
			MenuProblem{"button[0].sub_button[0].url", 65317, "contains whitespace; percent-encode it (%20)"}},
		{"url unparsable", func(m *Menu) { m.Button[0].SubButton[0].URL = "https://exa%mple.com/" },
			MenuProblem{"button[0].sub_button[0].url", 65317, `not a valid URL: invalid URL escape "%mp"`}},
		{"miniprogram without url fallback", func(m *Menu) { m.Button[0].SubButton[1].URL = "" },
			MenuProblem{"button[0].sub_button[1].url", 40027, "required for type miniprogram: clients without mini-program support open it instead"}},
		{"miniprogram fallback not http", func(m *Menu) { m.Button[0].SubButton[1].URL = "weixin://dl/business" },
			MenuProblem{"button[0].sub_button[1].url", 40054, `must be an absolute http:// or https:// URL, got "weixin://dl/business"`}},
		{"miniprogram without appid", func(m *Menu) { m.Button[0].SubButton[1].AppID = "" },
			MenuProblem{"button[0].sub_button[1].appid", 40166, "required for type miniprogram: the mini-program's AppID"}},
		{"miniprogram without pagepath", func(m *Menu) { m.Button[0].SubButton[1].PagePath = "" },
			MenuProblem{"button[0].sub_button[1].pagepath", 40165, "required for type miniprogram: the page to open, e.g. pages/index/index"}},
		{"article_id without article_id", func(m *Menu) { m.Button[1].SubButton[0].ArticleID = "" },
			MenuProblem{"button[1].sub_button[0].article_id", 40007, "required for type article_id"}},
		{"article_view_limited without article_id", func(m *Menu) { m.Button[1].SubButton[1].ArticleID = "" },
			MenuProblem{"button[1].sub_button[1].article_id", 40007, "required for type article_view_limited"}},
		{"media_id without media_id", func(m *Menu) { m.Button[1].SubButton[2].MediaID = "" },
			MenuProblem{"button[1].sub_button[2].media_id", 40007, "required for type media_id"}},
		{"view_limited without media_id", func(m *Menu) { m.Button[1].SubButton[3].MediaID = "" },
			MenuProblem{"button[1].sub_button[3].media_id", 40007, "required for type view_limited"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := menuTestValid()
			tt.modify(m)
			got := ValidateMenu(m)
			if want := []MenuProblem{tt.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("ValidateMenu:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestValidateMenuNilMenu(t *testing.T) {
	want := []MenuProblem{{"button", 40016, "no buttons; a menu needs 1 to 3"}}
	if got := ValidateMenu(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("ValidateMenu(nil) = %+v, want %+v", got, want)
	}
}

func TestValidateMenuCountsNameBytesNotCharacters(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"关于我们", true},             // 12 bytes
		{"我的账户服", true},            // 15 bytes
		{"我的账户服务", false},          // 18 bytes
		{"abcdefghijklmnop", true}, // 16 bytes
		{"账户🐟🐟", true},             // 6 + 8 = 14 bytes
		{"账户🐟🐟🐟", false},           // 18 bytes though only 5 characters
	} {
		m := &Menu{Button: []Button{{Type: "click", Name: tt.name, Key: "K"}}}
		if got := ValidateMenu(m) == nil; got != tt.ok {
			t.Errorf("name %q (%d bytes): accepted=%v, want %v", tt.name, len(tt.name), got, tt.ok)
		}
	}
}

func TestValidateMenuReportsEveryProblemInDocumentOrder(t *testing.T) {
	m := &Menu{Button: []Button{
		{Name: "我的账户服务", Type: "view", SubButton: []Button{
			{Type: "view", Name: strings.Repeat("账", 21), URL: "/me"},
			{Type: "click", Name: "ok", Key: "OK"},
		}},
		{Type: "teleport", Name: "x"},
		{Type: "click"},
		{Type: "miniprogram", Name: "小程序"},
	}}
	want := []string{
		"button: 4 buttons, limit 3",
		"button[0].name: 18 bytes, limit 16",
		"button[0].type: must be empty on a button with sub_button",
		"button[0].sub_button[0].name: 63 bytes, limit 60",
		`button[0].sub_button[0].url: must be an absolute http:// or https:// URL, got "/me"`,
		`button[1].type: unknown type "teleport"; one of ` + menuTypeList,
		"button[2].name: required",
		"button[2].key: required for type click: the EventKey your server receives",
		"button[3].url: required for type miniprogram: clients without mini-program support open it instead",
		"button[3].appid: required for type miniprogram: the mini-program's AppID",
		"button[3].pagepath: required for type miniprogram: the page to open, e.g. pages/index/index",
	}
	var got []string
	for _, p := range ValidateMenu(m) {
		got = append(got, p.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func TestMenuProblemString(t *testing.T) {
	p := MenuProblem{Path: "button[1].sub_button[4].name", Code: 40025, Msg: "63 bytes, limit 60"}
	if got, want := p.String(), "button[1].sub_button[4].name: 63 bytes, limit 60"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
