package wechat

// Menu is an Official Account custom menu (自定义菜单) as cgi-bin/menu/create
// accepts it and cgi-bin/menu/get returns it under "menu".
type Menu struct {
	// Button holds the 1–3 top-level buttons.
	Button []Button `json:"button"`
	// MenuID is set by WeChat on menus it returns; it is ignored on create.
	MenuID int64 `json:"menuid,omitempty"`
}

// Button is one menu button. A button with SubButton has no Type; the other
// fields apply by type (docs/wechat.md §5): Key for click and the scancode/pic/
// location types, URL for view (and miniprogram's fallback), AppID and
// PagePath for miniprogram, ArticleID for article_id/article_view_limited,
// MediaID for the legacy media_id/view_limited.
type Button struct {
	Type      string   `json:"type,omitempty"`
	Name      string   `json:"name"`
	Key       string   `json:"key,omitempty"`
	URL       string   `json:"url,omitempty"`
	AppID     string   `json:"appid,omitempty"`
	PagePath  string   `json:"pagepath,omitempty"`
	ArticleID string   `json:"article_id,omitempty"`
	MediaID   string   `json:"media_id,omitempty"`
	SubButton []Button `json:"sub_button,omitempty"`
}
