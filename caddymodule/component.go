package wechatauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
)

// ComponentConfig is a third-party platform (第三方平台, "component") of the
// WeChat Open Platform that runs web authorization for the Official Accounts
// that authorized it (docs/third-party.md). It is configured once per Caddy,
// in the wechat global option; every secret in it is written as
// {env.NAME} or {file./path}, expanded at provision time, so it never
// appears in adapted JSON.
type ComponentConfig struct {
	// AppID is the platform's own AppID (第三方平台 AppID, Open Platform
	// console → 第三方平台 → 开发资料).
	AppID string `json:"app_id,omitempty"`

	// AppSecret is the platform's AppSecret, sent to WeChat with each
	// api_component_token call and nowhere else.
	AppSecret string `json:"app_secret,omitempty"`

	// Token is the message Token (消息校验Token) WeChat signs every push to
	// the 授权事件接收URL with (msg_signature).
	Token string `json:"token,omitempty"`

	// EncodingAESKey is the 43-character 消息加解密Key the pushes are
	// encrypted with.
	EncodingAESKey string `json:"encoding_aes_key,omitempty"`

	// PreviousEncodingAESKey is the key used before the last change in the
	// console, tried when EncodingAESKey does not decrypt a push, so pushes
	// sealed with the old key during the change are not lost. Optional.
	PreviousEncodingAESKey string `json:"previous_encoding_aes_key,omitempty"`

	// APIBase is the WeChat API base URL (default https://api.weixin.qq.com);
	// tests point it at a simulator.
	APIBase string `json:"api_base,omitempty"`

	// OpenBase is the authorize page base URL (default
	// https://open.weixin.qq.com); tests point it at a simulator.
	OpenBase string `json:"open_base,omitempty"`
}

// component is the provisioned platform: its WeChat client, the receiver of
// its pushes and what it keeps in the wechat app's store (the ticket, the
// component_access_token, the authorizers, the pushes already seen).
type component struct {
	appID  string
	client *wechat.Client
	recv   msgcrypt.Receiver
	store  Store
	aead   cipher.AEAD // seals the ticket and the token in the store
	logger *zap.Logger
	now    func() time.Time

	// The component_access_token as this process last read or fetched it,
	// and what it last learned of each authorizer (authorizedCached).
	mu      sync.Mutex
	token   string
	usable  time.Time // until when token may be handed out
	authz   map[string]authorizedEntry
	fetchMu sync.Mutex
}

// provisionComponent expands the platform's settings and makes its client
// and receiver; Provision gives it the store. Errors name the setting,
// never its value.
func (a *App) provisionComponent() error {
	if a.Component == nil {
		return nil
	}
	e, err := a.Component.expand()
	if err != nil {
		return err
	}
	client, err := wechat.New(wechat.Config{AppID: e.appID, AppSecret: e.secret, APIBase: e.apiBase, OpenBase: e.openBase})
	if err != nil {
		return fmt.Errorf("wechat component: %v", err)
	}
	mac := hmac.New(sha256.New, []byte(e.secret))
	mac.Write([]byte("wechat_auth component store\x00" + e.appID))
	block, _ := aes.NewCipher(mac.Sum(nil)) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	a.component = &component{
		appID: e.appID, client: client, aead: aead, logger: a.logger.Named("component"), now: time.Now,
		recv: msgcrypt.Receiver{AppID: e.appID, Token: e.token, Key: e.key, PreviousKey: e.prevKey},
	}
	return nil
}

// CheckComponent applies the rules Provision applies to the platform's
// settings, placeholders expanded from this process's environment and
// files, for caddy wechat-doctor; nil without a platform.
func CheckComponent(c *ComponentConfig) error {
	if c == nil {
		return nil
	}
	_, err := c.expand()
	return err
}

// expandedComponent is a ComponentConfig with its placeholders expanded and
// its keys parsed.
type expandedComponent struct {
	appID, secret, token, apiBase, openBase string
	key, prevKey                            []byte
}

func (c *ComponentConfig) expand() (*expandedComponent, error) {
	repl := caddy.NewReplacer()
	var vals [7]string
	for i, f := range []struct{ name, v string }{
		{"app_id", c.AppID}, {"app_secret", c.AppSecret}, {"token", c.Token},
		{"encoding_aes_key", c.EncodingAESKey}, {"previous_encoding_aes_key", c.PreviousEncodingAESKey},
		{"api_base", c.APIBase}, {"open_base", c.OpenBase},
	} {
		v, err := expand(repl, "wechat component "+f.name, f.v)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	e := &expandedComponent{appID: vals[0], secret: vals[1], token: vals[2], apiBase: vals[5], openBase: vals[6]}
	if err := checkComponentShapes(e.appID, e.secret, e.token); err != nil {
		return nil, err
	}
	var err error
	if e.key, err = msgcrypt.ParseKey(vals[3]); err != nil {
		return nil, fmt.Errorf("wechat component encoding_aes_key: %v (Open Platform console → 第三方平台 → 开发资料 → 消息加解密Key)", err)
	}
	if vals[4] != "" {
		if e.prevKey, err = msgcrypt.ParseKey(vals[4]); err != nil {
			return nil, fmt.Errorf("wechat component previous_encoding_aes_key: %v", err)
		}
	}
	return e, nil
}

// checkComponentShapes refuses settings WeChat's console could not have
// given: an empty or odd AppID, no secret, a Token outside 3–32 letters and
// digits.
func checkComponentShapes(appID, secret, token string) error {
	if appID == "" {
		return errors.New("wechat component app_id is empty: set it to the platform's AppID (Open Platform console → 第三方平台 → 开发资料)")
	}
	if !alnum(appID) || len(appID) > 32 {
		return errors.New("wechat component app_id must be the platform's AppID, letters and digits only (wx…)")
	}
	if secret == "" {
		return errors.New("wechat component app_secret is empty: set it to the platform's AppSecret, e.g. app_secret {env.WECHAT_COMPONENT_SECRET}, and make sure that variable is set")
	}
	if len(token) < 3 || len(token) > 32 || !alnum(token) {
		return errors.New("wechat component token must be the 消息校验Token of the console: 3 to 32 letters and digits")
	}
	return nil
}

func alnum(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// storeKey is where the platform keeps name in the store.
func (c *component) storeKey(name string) string { return "component:" + c.appID + ":" + name }
