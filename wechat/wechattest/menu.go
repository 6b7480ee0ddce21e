package wechattest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// The custom menu (自定义菜单), with the simulator's own reading of docs/wechat.md §5.
// It deliberately shares no code or types with wechat.ValidateMenu and
// wechat.Button: the simulator is the oracle the client is tested against, so
// a mistake in the client's rules or field tags cannot make it agree.

// buttonFields are a button's own fields, in WeChat's order.
type buttonFields struct {
	Type      string `json:"type,omitempty"`
	Name      string `json:"name"`
	Key       string `json:"key,omitempty"`
	URL       string `json:"url,omitempty"`
	AppID     string `json:"appid,omitempty"`
	PagePath  string `json:"pagepath,omitempty"`
	ArticleID string `json:"article_id,omitempty"`
	MediaID   string `json:"media_id,omitempty"`
}

// menuButton is a button as cgi-bin/menu/create takes it.
type menuButton struct {
	buttonFields
	SubButton []menuButton `json:"sub_button,omitempty"`
}

// Limits of §5, in UTF-8 bytes.
const (
	maxButtons    = 3
	maxSubButtons = 5
	maxTopName    = 16
	maxSubName    = 60
	maxKey        = 128
	maxURL        = 1024
)

// buttonTypes maps every type WeChat accepts to the field it requires.
var buttonTypes = map[string]string{
	"click": "key", "scancode_push": "key", "scancode_waitmsg": "key", "pic_sysphoto": "key",
	"pic_photo_or_album": "key", "pic_weixin": "key", "location_select": "key",
	"view": "url", "miniprogram": "url",
	"article_id": "article_id", "article_view_limited": "article_id",
	"media_id": "media_id", "view_limited": "media_id",
}

// menuErrMsgs are WeChat's errmsg texts for menu errors (全局返回码).
var menuErrMsgs = map[int]string{
	40007: "invalid media_id",
	40016: "invalid button size",
	40017: "invalid button type",
	40018: "invalid button name size",
	40019: "invalid button key size",
	40020: "invalid button url size",
	40023: "invalid sub button size",
	40024: "invalid sub button type",
	40025: "invalid sub button name size",
	40026: "invalid sub button key size",
	40027: "invalid sub button url size",
	40165: "invalid weapp pagepath",
	40166: "invalid weapp appid",
}

// level holds the errcodes that differ between top-level buttons and sub-buttons.
type level struct{ maxName, name, typ, key, url int }

var (
	topLevel = level{maxName: maxTopName, name: 40018, typ: 40017, key: 40019, url: 40020}
	subLevel = level{maxName: maxSubName, name: 40025, typ: 40024, key: 40026, url: 40027}
)

// checkMenu returns the errcode WeChat answers for the first rule the menu
// breaks, or 0.
func checkMenu(buttons []menuButton) int {
	if len(buttons) == 0 || len(buttons) > maxButtons {
		return 40016
	}
	for _, b := range buttons {
		if len(b.SubButton) == 0 {
			if c := checkButton(b.buttonFields, topLevel); c != 0 {
				return c
			}
			continue
		}
		// A parent only opens its sub-menu: its name counts, its type does not.
		if b.Name == "" || len(b.Name) > maxTopName {
			return topLevel.name
		}
		if len(b.SubButton) > maxSubButtons {
			return 40023
		}
		for _, sb := range b.SubButton {
			if len(sb.SubButton) > 0 {
				return subLevel.typ // menus are two levels deep
			}
			if c := checkButton(sb.buttonFields, subLevel); c != 0 {
				return c
			}
		}
	}
	return 0
}

// checkButton checks a button that acts when tapped.
func checkButton(b buttonFields, lv level) int {
	need, ok := buttonTypes[b.Type]
	switch {
	case !ok:
		return lv.typ
	case b.Name == "" || len(b.Name) > lv.maxName:
		return lv.name
	case len(b.Key) > maxKey || (need == "key" && b.Key == ""):
		return lv.key
	case len(b.URL) > maxURL || (need == "url" && !httpURL(b.URL)):
		return lv.url
	case b.Type == "miniprogram" && b.AppID == "":
		return 40166
	case b.Type == "miniprogram" && b.PagePath == "":
		return 40165
	case need == "article_id" && b.ArticleID == "", need == "media_id" && b.MediaID == "":
		return 40007
	}
	return 0
}

// httpURL admits the absolute http(s) URLs a view button may open.
func httpURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (s *Simulator) handleMenuCreate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, r, 43002)
		return
	}
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	body, _ := io.ReadAll(r.Body)
	// WeChat refuses \u escapes outright (encoders escaping & < > as \u0026 …).
	if bytes.Contains(body, []byte(`\u`)) {
		s.fail(w, r, 40033)
		return
	}
	var m struct {
		Button []menuButton `json:"button"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		s.fail(w, r, 47001)
		return
	}
	if code := checkMenu(m.Button); code != 0 {
		s.writeJSON(w, errBody(code, menuErrMsgs[code]))
		return
	}
	s.mu.Lock()
	s.nextMenuID++
	a.menu, a.menuID = m.Button, s.nextMenuID
	s.mu.Unlock()
	s.writeJSON(w, okBody)
}

// getButton is a button as menu/get answers it: "sub_button":[] on every button.
type getButton struct {
	buttonFields
	SubButton []getButton `json:"sub_button"`
}

// selfButton is a button as get_current_selfmenu_info answers it: sub-buttons
// wrapped as {"list":[…]}, and no sub_button on a leaf.
type selfButton struct {
	buttonFields
	SubButton *selfList `json:"sub_button,omitempty"`
}

type selfList struct {
	List []selfButton `json:"list"`
}

func toGet(bs []menuButton) []getButton {
	out := make([]getButton, len(bs))
	for i, b := range bs {
		out[i] = getButton{b.buttonFields, toGet(b.SubButton)}
	}
	return out
}

func toSelf(bs []menuButton) []selfButton {
	out := make([]selfButton, len(bs))
	for i, b := range bs {
		out[i] = selfButton{buttonFields: b.buttonFields}
		if len(b.SubButton) > 0 {
			out[i].SubButton = &selfList{List: toSelf(b.SubButton)}
		}
	}
	return out
}

// liveMenu returns a's menu and id; ok is false when it has none.
func (s *Simulator) liveMenu(a *appState) (buttons []menuButton, id int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.menu, a.menuID, a.menu != nil
}

func (s *Simulator) handleMenuGet(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	buttons, id, ok := s.liveMenu(a)
	if !ok {
		s.fail(w, r, 46003)
		return
	}
	type menu struct {
		Button []getButton `json:"button"`
		MenuID int64       `json:"menuid"`
	}
	s.writeJSON(w, struct {
		Menu menu `json:"menu"`
	}{menu{toGet(buttons), id}})
}

func (s *Simulator) handleMenuDelete(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	s.mu.Lock()
	a.menu, a.menuID = nil, 0
	s.mu.Unlock()
	s.writeJSON(w, okBody)
}

func (s *Simulator) handleSelfMenu(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	buttons, _, ok := s.liveMenu(a)
	if !ok {
		s.writeJSON(w, struct {
			IsMenuOpen int `json:"is_menu_open"`
		}{0})
		return
	}
	type info struct {
		Button []selfButton `json:"button"`
	}
	s.writeJSON(w, struct {
		IsMenuOpen   int  `json:"is_menu_open"`
		SelfMenuInfo info `json:"selfmenu_info"`
	}{1, info{toSelf(buttons)}})
}
