package wechat

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Menu limits from docs/wechat.md §5. WeChat counts names, keys and URLs in UTF-8
// bytes, not characters: a top-level name holds 5 Chinese characters at most.
const (
	menuMaxButtons       = 3
	menuMaxSubButtons    = 5
	menuMaxNameBytes     = 16
	menuMaxSubNameBytes  = 60
	menuMaxKeyBytes      = 128
	menuMaxURLBytes      = 1024
	menuNestedLevelsCode = 40022 // 不合法的子菜单级数
	menuMediaIDCode      = 40007 // invalid media_id; WeChat answers it for article ids too
	menuInvalidURLCode   = 65317
)

// MenuProblem is one reason WeChat would refuse a menu, found offline by
// ValidateMenu.
type MenuProblem struct {
	// Path is the JSON path of the offending value, e.g.
	// "button[1].sub_button[4].name" ("button" for the whole list).
	Path string
	// Code is the errcode cgi-bin/menu/create would answer for the problem,
	// so a problem found offline reads like the one WeChat would report.
	Code int
	// Msg says what is wrong, e.g. "63 bytes, limit 60".
	Msg string
}

// String gives the problem as "path: msg", e.g.
// "button[1].sub_button[4].name: 63 bytes, limit 60".
func (p MenuProblem) String() string { return p.Path + ": " + p.Msg }

// menuKeyTypes are the button types whose event carries Key back to the
// account's server.
var menuKeyTypes = map[string]bool{
	"click": true, "scancode_push": true, "scancode_waitmsg": true,
	"pic_sysphoto": true, "pic_photo_or_album": true, "pic_weixin": true,
	"location_select": true,
}

// menuTypeList is every type WeChat accepts, in the order error messages list them.
const menuTypeList = "click, view, miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, " +
	"pic_photo_or_album, pic_weixin, location_select, article_id, article_view_limited, media_id, view_limited"

// menuLevel holds the limits and errcodes that differ between top-level
// buttons and sub-buttons: WeChat has a parallel set of codes for each.
type menuLevel struct {
	maxName                              int
	nameCode, typeCode, keyCode, urlCode int
	urlDomainCode                        int
}

var (
	menuTop = menuLevel{maxName: menuMaxNameBytes, nameCode: 40018, typeCode: 40017,
		keyCode: 40019, urlCode: 40020, urlDomainCode: 40055}
	menuSub = menuLevel{maxName: menuMaxSubNameBytes, nameCode: 40025, typeCode: 40024,
		keyCode: 40026, urlCode: 40027, urlDomainCode: 40054}
)

// ValidateMenu checks m against WeChat's menu rules (docs/wechat.md §5) without
// calling WeChat, and returns every problem found, in document order, each
// with its JSON path and the errcode WeChat would answer. A nil result means
// cgi-bin/menu/create should accept the menu as far as it can be known
// offline (URL domains and mini-program links are checked by WeChat only).
func ValidateMenu(m *Menu) []MenuProblem {
	v := &menuValidator{}
	if m == nil || len(m.Button) == 0 {
		v.add("button", 40016, "no buttons; a menu needs 1 to %d", menuMaxButtons)
		return v.problems
	}
	if n := len(m.Button); n > menuMaxButtons {
		v.add("button", 40016, "%d buttons, limit %d", n, menuMaxButtons)
	}
	for i := range m.Button {
		v.top(&m.Button[i], "button["+strconv.Itoa(i)+"]")
	}
	return v.problems
}

type menuValidator struct{ problems []MenuProblem }

func (v *menuValidator) add(path string, code int, format string, args ...any) {
	v.problems = append(v.problems, MenuProblem{Path: path, Code: code, Msg: fmt.Sprintf(format, args...)})
}

// top checks a top-level button: either a parent of sub-buttons or a leaf.
func (v *menuValidator) top(b *Button, path string) {
	if len(b.SubButton) == 0 {
		v.leaf(b, path, menuTop)
		return
	}
	v.name(b.Name, path, menuTop)
	// A parent only opens its sub-menu; WeChat refuses an action on it
	// rather than silently dropping it, so neither do we.
	for _, f := range []struct{ field, value string }{
		{"type", b.Type}, {"key", b.Key}, {"url", b.URL}, {"appid", b.AppID},
		{"pagepath", b.PagePath}, {"article_id", b.ArticleID}, {"media_id", b.MediaID},
	} {
		if f.value != "" {
			v.add(path+"."+f.field, menuTop.typeCode, "must be empty on a button with sub_button")
		}
	}
	if n := len(b.SubButton); n > menuMaxSubButtons {
		v.add(path+".sub_button", 40023, "%d sub-buttons, limit %d", n, menuMaxSubButtons)
	}
	for j := range b.SubButton {
		sub := &b.SubButton[j]
		subPath := path + ".sub_button[" + strconv.Itoa(j) + "]"
		v.leaf(sub, subPath, menuSub)
		if len(sub.SubButton) > 0 {
			v.add(subPath+".sub_button", menuNestedLevelsCode,
				"menus are two levels deep; a sub-button cannot have sub_button")
		}
	}
}

// leaf checks a button that acts when tapped: its type and the fields the
// type requires. Fields a type does not use are ignored, as WeChat does,
// except that their length limits still apply.
func (v *menuValidator) leaf(b *Button, path string, lv menuLevel) {
	switch {
	case b.Type == "":
		v.add(path+".type", lv.typeCode, "required on a button without sub_button; one of %s", menuTypeList)
	case !menuKnownType(b.Type):
		v.add(path+".type", lv.typeCode, "unknown type %q; one of %s", b.Type, menuTypeList)
	}
	v.name(b.Name, path, lv)
	v.key(b, path, lv)
	v.url(b, path, lv)
	if b.Type == "miniprogram" {
		if b.AppID == "" {
			v.add(path+".appid", 40166, "required for type miniprogram: the mini-program's AppID")
		}
		if b.PagePath == "" {
			v.add(path+".pagepath", 40165, "required for type miniprogram: the page to open, e.g. pages/index/index")
		}
	}
	if (b.Type == "article_id" || b.Type == "article_view_limited") && b.ArticleID == "" {
		v.add(path+".article_id", menuMediaIDCode, "required for type %s", b.Type)
	}
	if (b.Type == "media_id" || b.Type == "view_limited") && b.MediaID == "" {
		v.add(path+".media_id", menuMediaIDCode, "required for type %s", b.Type)
	}
}

func menuKnownType(t string) bool {
	switch t {
	case "view", "miniprogram", "article_id", "article_view_limited", "media_id", "view_limited":
		return true
	}
	return menuKeyTypes[t]
}

func (v *menuValidator) name(name, path string, lv menuLevel) {
	switch n := len(name); {
	case n == 0:
		v.add(path+".name", lv.nameCode, "required")
	case n > lv.maxName:
		v.add(path+".name", lv.nameCode, "%d bytes, limit %d", n, lv.maxName)
	}
}

func (v *menuValidator) key(b *Button, path string, lv menuLevel) {
	switch n := len(b.Key); {
	case n == 0 && menuKeyTypes[b.Type]:
		v.add(path+".key", lv.keyCode, "required for type %s: the EventKey your server receives", b.Type)
	case n > menuMaxKeyBytes:
		v.add(path+".key", lv.keyCode, "%d bytes, limit %d", n, menuMaxKeyBytes)
	}
}

func (v *menuValidator) url(b *Button, path string, lv menuLevel) {
	needed := b.Type == "view" || b.Type == "miniprogram"
	switch n := len(b.URL); {
	case n == 0 && b.Type == "view":
		v.add(path+".url", lv.urlCode, "required for type view")
		return
	case n == 0 && b.Type == "miniprogram":
		v.add(path+".url", lv.urlCode, "required for type miniprogram: clients without mini-program support open it instead")
		return
	case n > menuMaxURLBytes:
		v.add(path+".url", lv.urlCode, "%d bytes, limit %d", n, menuMaxURLBytes)
		return
	}
	if !needed || b.URL == "" {
		return
	}
	code, msg := menuCheckURL(b.URL)
	if code == menuURLDomain {
		code = lv.urlDomainCode
	}
	if code != 0 {
		v.add(path+".url", code, "%s", msg)
	}
}

// menuURLDomain stands for the level's url-domain errcode (40054/40055).
const menuURLDomain = -40055

// menuCheckURL reports why raw is not a URL WeChat opens from a menu: it must
// be an absolute http or https URL with a host.
func menuCheckURL(raw string) (code int, msg string) {
	if strings.TrimSpace(raw) != raw || strings.ContainsAny(raw, " \t\r\n") {
		return menuInvalidURLCode, "contains whitespace; percent-encode it (%20)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		msg := err.Error()
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		return menuInvalidURLCode, "not a valid URL: " + msg
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return menuURLDomain, fmt.Sprintf("must be an absolute http:// or https:// URL, got %q", raw)
	}
	if u.Hostname() == "" {
		return menuURLDomain, "has no host; write it as https://example.com/path"
	}
	return 0, ""
}
