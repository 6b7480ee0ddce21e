package wechat

import (
	"context"
	"errors"
)

// CreateMenu replaces the account's custom menu. The body is written without HTML
// escaping, since WeChat rejects \u0026 with 40033. It is not retried blindly:
// a lost answer leaves the menu state unknown, and the caller should look.
func (c *Client) CreateMenu(ctx context.Context, m *Menu) error {
	if m == nil {
		return errors.New("wechat: menu is nil: pass the menu to create")
	}
	body, err := jsonBody(struct {
		Button []Button `json:"button"`
	}{m.Button})
	if err != nil {
		return err
	}
	return c.doBasic(ctx, request{op: pathMenuCreate, method: "POST", body: body}, nil)
}

// GetMenu returns the account's custom menu; without one WeChat answers 46003,
// returned as *APIError.
func (c *Client) GetMenu(ctx context.Context) (*Menu, error) {
	var res struct {
		Menu Menu `json:"menu"`
	}
	err := c.doBasic(ctx, request{op: pathMenuGet, method: "GET", retry: true}, &res)
	if err != nil {
		return nil, err
	}
	return &res.Menu, nil
}

// DeleteMenu removes the account's custom menu (and its conditional menus).
func (c *Client) DeleteMenu(ctx context.Context) error {
	return c.doBasic(ctx, request{op: pathMenuDelete, method: "GET"}, nil)
}
