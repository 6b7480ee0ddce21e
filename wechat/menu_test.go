package wechat_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func demoMenu() *wechat.Menu {
	return &wechat.Menu{Button: []wechat.Button{
		{Type: "view", Name: "首页", URL: "https://www.example.com/?a=1&b=<2>"},
		{Name: "更多", SubButton: []wechat.Button{
			{Type: "click", Name: "今日歌曲", Key: "V1001_TODAY_MUSIC"},
			{Type: "view", Name: "退出", URL: "https://www.example.com/wechat_auth/logout?rd=/"},
		}},
	}}
}

func TestCreateGetDeleteMenuRoundTrip(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	if _, err := e.c.GetMenu(ctx); wechat.Code(err) != 46003 {
		t.Fatalf("GetMenu without menu: %v, want 46003", err)
	}
	want := demoMenu()
	if err := e.c.CreateMenu(ctx, want); err != nil {
		t.Fatalf("CreateMenu (URL with & and <>, which must not become \\u0026): %v", err)
	}
	var createBody string
	for _, c := range e.srv.Calls() {
		if c.Path == "/cgi-bin/menu/create" {
			createBody = c.Body
		}
	}
	if !strings.Contains(createBody, "a=1&b=<2>") {
		t.Errorf("create body %s: & and <> must be sent unescaped", createBody)
	}
	got, err := e.c.GetMenu(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.MenuID == 0 || len(got.Button) != 2 || got.Button[0].URL != want.Button[0].URL || got.Button[1].SubButton[0].Key != "V1001_TODAY_MUSIC" {
		t.Errorf("GetMenu = %+v", got)
	}
	if err := e.c.DeleteMenu(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetMenu(ctx); wechat.Code(err) != 46003 {
		t.Errorf("after delete: %v, want 46003", err)
	}
}

func TestCreateMenuReportsWeChatsValidationCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		menu *wechat.Menu
	}{
		{"four top-level buttons", &wechat.Menu{Button: []wechat.Button{
			{Type: "click", Name: "a", Key: "a"}, {Type: "click", Name: "b", Key: "b"},
			{Type: "click", Name: "c", Key: "c"}, {Type: "click", Name: "d", Key: "d"}}}},
		{"top name too long", &wechat.Menu{Button: []wechat.Button{{Type: "click", Name: "一二三四五六", Key: "a"}}}},
		{"unknown type", &wechat.Menu{Button: []wechat.Button{{Type: "nope", Name: "a", Key: "a"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, wechat.Config{})
			err := e.c.CreateMenu(context.Background(), tc.menu)
			probs := wechat.ValidateMenu(tc.menu)
			if len(probs) == 0 || wechat.Code(err) != probs[0].Code {
				t.Fatalf("err = %v, want errcode %v", err, probs)
			}
			if e.srv.Menu(e.c.AppID()) != nil {
				t.Error("an invalid menu was stored")
			}
		})
	}
}

func TestMenuGetHasWeChatsShape(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	if err := e.c.CreateMenu(ctx, demoMenu()); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.c.BasicToken(ctx)
	resp, err := http.Get(e.srv.URL + "/cgi-bin/menu/get?access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var raw struct {
		Menu struct {
			Button []map[string]json.RawMessage `json:"button"`
			MenuID *int64                       `json:"menuid"`
		} `json:"menu"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Menu.MenuID == nil || len(raw.Menu.Button) != 2 {
		t.Fatalf("menu/get body %s: %v", data, err)
	}
	if string(raw.Menu.Button[0]["sub_button"]) != "[]" {
		t.Errorf("menu/get button without subs: sub_button = %s, want [] as WeChat sends", raw.Menu.Button[0]["sub_button"])
	}
}

func TestCreateMenuRejectsNil(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	if err := e.c.CreateMenu(context.Background(), nil); err == nil {
		t.Fatal("want an error for a nil menu")
	}
}
