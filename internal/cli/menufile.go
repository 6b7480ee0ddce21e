package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Menu files: reading them strictly, writing them as push takes them back.

// menuDecode parses a menu file, naming the line and column of a mistake.
func menuDecode(data []byte) (*wechat.Menu, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m wechat.Menu
	err := dec.Decode(&m)
	if err == nil && dec.More() {
		return nil, fmt.Errorf("%s: unexpected data after the menu object", menuPos(data, dec.InputOffset()))
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return &m, nil
	case errors.Is(err, io.EOF):
		return nil, errors.New(`empty file; a menu is {"button": [...]}`)
	case errors.As(err, &syn):
		return nil, fmt.Errorf("%s: invalid JSON: %s", menuPos(data, syn.Offset-1), strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		return nil, fmt.Errorf("%s: %s must be a JSON %s, not %s", menuPos(data, typ.Offset-1), typ.Field, menuJSONKind(typ), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return nil, fmt.Errorf("%s; a button has type, name, key, url, appid, pagepath, article_id, media_id and sub_button",
			strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil, err
}

func menuJSONKind(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind().String() {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct":
		return "object"
	}
	return "number"
}

// menuPos names the byte at offset off as line and column, 1-based and in
// characters as editors count them (menu files are full of Chinese).
func menuPos(data []byte, off int64) string {
	before := data[:min(max(off, 0), int64(len(data)))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// menuEncode renders m the way push accepts it and diff compares it:
// indented, without the menuid WeChat adds, and with & < > kept as written
// (WeChat refuses \u0026 escapes with 40033, and people read these files).
func menuEncode(m *wechat.Menu) []byte {
	clean := *m
	clean.MenuID = 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(&clean) // cannot fail: plain strings and slices
	return buf.Bytes()
}

func menuLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// menuCount describes the size of m, e.g. "3 buttons and 7 sub-buttons".
func menuCount(m *wechat.Menu) string {
	subs := 0
	for _, b := range m.Button {
		subs += len(b.SubButton)
	}
	return fmt.Sprintf("%d button%s and %d sub-button%s",
		len(m.Button), menuPlural(len(m.Button)), subs, menuPlural(subs))
}

func menuPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
