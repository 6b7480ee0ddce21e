// Package wechat is a small client for the WeChat Official Account APIs that web
// authorization (网页授权) needs: the authorize URL, code exchange, refresh, userinfo,
// the basic access_token (through cgi-bin/stable_token), the JS-SDK jsapi_ticket,
// follower info and menus.
//
// Every call has a deadline and a response-size cap; errors are typed (*APIError for
// WeChat's errcodes, *RequestError below that) and never contain the app secret,
// codes or tokens.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"
)

// DefaultAPIBase serves every WeChat JSON API.
const DefaultAPIBase = "https://api.weixin.qq.com"

// DefaultOpenBase serves the authorize page users are redirected to.
const DefaultOpenBase = "https://open.weixin.qq.com"

// ScopeBase is silent authorization: the openid only.
const ScopeBase = "snsapi_base"

// ScopeUserInfo asks the user's consent for the profile (nickname, avatar).
const ScopeUserInfo = "snsapi_userinfo"

// API paths; Op of errors uses them so logs never carry a query string.
const (
	pathCodeToken    = "/sns/oauth2/access_token"
	pathRefreshToken = "/sns/oauth2/refresh_token"
	pathUserInfo     = "/sns/userinfo"
	pathAuth         = "/sns/auth"
	pathToken        = "/cgi-bin/token"
	pathStableToken  = "/cgi-bin/stable_token"
	pathUserInfoCGI  = "/cgi-bin/user/info"
	pathMenuCreate   = "/cgi-bin/menu/create"
	pathMenuGet      = "/cgi-bin/menu/get"
	pathMenuDelete   = "/cgi-bin/menu/delete"
	pathTicket       = "/cgi-bin/ticket/getticket"
)

// Config configures a Client. Only AppID and AppSecret are required.
type Config struct {
	// AppID is the Official Account's AppID (wx…).
	AppID string
	// AppSecret is the account's AppSecret; it is sent to WeChat and nowhere else.
	AppSecret string
	// APIBase is the JSON API base URL; "" means DefaultAPIBase. A trailing slash is tolerated.
	APIBase string
	// OpenBase is the authorize page base URL; "" means DefaultOpenBase.
	OpenBase string
	// HTTPClient sends the requests; nil means a private client (never http.DefaultClient,
	// whose settings other code may change). The Client uses a copy of it that never
	// follows a redirect, whatever its CheckRedirect says.
	HTTPClient *http.Client
	// Timeout bounds each attempt of each call; 0 means 5s.
	Timeout time.Duration
	// MaxBodyBytes caps a response body; a larger body is an error, never truncated JSON. 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxRetries is the number of extra attempts on errcode -1, HTTP 5xx or transport
	// errors, for calls that are safe to repeat. 0 means 2; negative means none.
	MaxRetries int
	// RetryBackoff is the first pause between attempts, doubled each time; 0 means 100ms.
	RetryBackoff time.Duration
	// Now tells the time for the basic-token cache; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// Shared, when set, shares the basic token and the jsapi_ticket with the
	// other replicas and lets one of them force-refresh a rejected token.
	Shared SharedCredentials
	// Observe, when set, hears about every attempt of every call as it ends: the API
	// path (never a query), how long the attempt took and its error (nil on success).
	// It runs on the calling goroutine, so it must be quick. Metrics hang here.
	Observe func(op string, took time.Duration, err error)
}

// Client calls the WeChat APIs for one Official Account. It is safe for concurrent use.
type Client struct {
	cfg      Config
	apiBase  string
	openBase string
	hc       *http.Client
	now      func() time.Time

	// api names the service and its real base in errors that tell the
	// operator to check api_base: WeChat's, or WeCom's (NewWeCom).
	api service

	tokens  *cache.Cache       // the basic access_token, keyed by basicTokenKey
	tokenMu sync.Mutex         // makes InvalidateBasicToken's compare-and-delete atomic
	flight  singleflight.Group // concurrent BasicToken callers share one fetch
}

// New checks cfg and returns a Client. Its error names the field to fix.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("wechat: AppID is empty: set the Official Account's AppID (公众平台 → 基本配置)")
	}
	if strings.TrimSpace(cfg.AppSecret) == "" {
		return nil, errors.New("wechat: AppSecret is empty: set the Official Account's AppSecret (公众平台 → 基本配置)")
	}
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, now: cfg.Now, api: serviceWeChat}
	var err error
	if c.apiBase, err = cleanBase("APIBase", cfg.APIBase, DefaultAPIBase); err != nil {
		return nil, err
	}
	if c.openBase, err = cleanBase("OpenBase", cfg.OpenBase, DefaultOpenBase); err != nil {
		return nil, err
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	} else {
		hc := *c.hc
		c.hc = &hc
	}
	// WeChat's API answers every call itself. Following a redirect would
	// send the secret (a 307 repeats the POST body) and, as the Referer, the
	// URL with the code to wherever the redirect points: once() turns the
	// 3xx into an error instead.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = 5 * time.Second
	}
	if c.cfg.MaxBodyBytes <= 0 {
		c.cfg.MaxBodyBytes = 1 << 20
	}
	switch {
	case c.cfg.MaxRetries == 0:
		c.cfg.MaxRetries = 2
	case c.cfg.MaxRetries < 0:
		c.cfg.MaxRetries = 0
	}
	if c.cfg.RetryBackoff <= 0 {
		c.cfg.RetryBackoff = 100 * time.Millisecond
	}
	// Expiry is checked against c.now, not go-cache's wall clock, so the cache
	// itself never expires entries; InvalidateBasicToken and refetches replace them.
	c.tokens = cache.New(cache.NoExpiration, 0)
	return c, nil
}

func cleanBase(field, v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("wechat: %s %q is not an http(s) URL: use e.g. %s", field, v, def)
	}
	return strings.TrimRight(v, "/"), nil
}

// AppID returns the Official Account's AppID.
func (c *Client) AppID() string { return c.cfg.AppID }

// request describes one API call. What in it is secret is not listed by the
// caller: do redacts every value sent except those of publicParams.
type request struct {
	op     string     // API path
	method string     // GET or POST
	query  url.Values // sent in the URL
	body   []byte     // JSON body for POST
	retry  bool       // safe to repeat on -1 / 5xx / transport errors
}

// publicParams are the query and body fields whose values may appear in an
// error; every other value a request carries (secret, code, access_token,
// refresh_token, and any parameter added later) is redacted by construction.
var publicParams = map[string]bool{
	"appid": true, "grant_type": true, "lang": true, "openid": true, "type": true, "force_refresh": true,
	"component_appid": true,
}

// secrets returns the values of r that must never reach an error: the app
// secret always, and every non-public value of the query and of a JSON
// object body's top level.
func (c *Client) secrets(r request) []string {
	out := []string{c.cfg.AppSecret}
	for k, vs := range r.query {
		if !publicParams[k] {
			out = append(out, vs...)
		}
	}
	var fields map[string]any
	if json.Unmarshal(r.body, &fields) == nil {
		for k, v := range fields {
			if s, ok := v.(string); ok && !publicParams[k] {
				out = append(out, s)
			}
		}
	}
	return out
}

// do runs r, retrying where allowed, and decodes a successful body into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	backoff := c.cfg.RetryBackoff
	secrets := c.secrets(r)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := c.once(ctx, r, secrets, out)
		if c.cfg.Observe != nil {
			c.cfg.Observe(r.op, time.Since(start), err)
		}
		if err == nil || !r.retry || attempt >= c.cfg.MaxRetries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func retryable(err error) bool {
	if IsBusy(err) {
		return true
	}
	var re *RequestError
	return errors.As(err, &re) && re.temporary
}

// once runs a single attempt under its own deadline.
func (c *Client) once(ctx context.Context, r request, secrets []string, out any) error {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.apiBase + r.op
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return &RequestError{Op: r.op, Err: errors.New("cannot build the request: check api_base")}
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, r, secrets, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return c.transportError(ctx, r, secrets, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Neither the Location nor the request URL goes into the error:
		// both may carry the code, a token or the secret.
		return &RequestError{Op: r.op, Status: resp.StatusCode,
			Err: fmt.Errorf("%w: HTTP status %d %s from the API base; check api_base points at %s's API itself (%s), not at an address that moved",
				ErrRedirect, resp.StatusCode, http.StatusText(resp.StatusCode), c.api.name, c.api.base)}
	}
	if resp.StatusCode != http.StatusOK {
		return &RequestError{Op: r.op, Status: resp.StatusCode, temporary: resp.StatusCode >= 500,
			Err: fmt.Errorf("unexpected HTTP status %d %s from %s; check api_base or retry later",
				resp.StatusCode, http.StatusText(resp.StatusCode), c.api.name)}
	}
	if int64(len(data)) > c.cfg.MaxBodyBytes {
		return &RequestError{Op: r.op, Status: resp.StatusCode,
			Err: fmt.Errorf("response body exceeds %d bytes; raise MaxBodyBytes if this is expected", c.cfg.MaxBodyBytes)}
	}
	var head struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return &RequestError{Op: r.op, Status: resp.StatusCode,
			Err: fmt.Errorf("response is not valid JSON; check api_base points at %s's API (%s)", c.api.name, c.api.base)}
	}
	if head.ErrCode != 0 {
		return &APIError{Op: r.op, Code: head.ErrCode, Msg: redact(head.ErrMsg, secrets)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &RequestError{Op: r.op, Status: resp.StatusCode,
			Err: fmt.Errorf("response JSON does not have %s's shape; check api_base points at %s", c.api.name, c.api.base)}
	}
	return nil
}

// transportError rebuilds a transport failure without the request URL: *url.Error
// prints the full URL, and WeChat's URLs carry secrets, codes and tokens.
func (c *Client) transportError(ctx context.Context, r request, secrets []string, err error) error {
	re := &RequestError{Op: r.op, temporary: true}
	var ne net.Error
	var oe *net.OpError
	switch {
	case ctx.Err() != nil:
		// The caller gave up; repeating would only fail again.
		re.temporary = false
		re.Err = fmt.Errorf("request abandoned: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		re.Err = fmt.Errorf("timed out after %s: %w", c.cfg.Timeout, context.DeadlineExceeded)
	case errors.As(err, &oe):
		// net.OpError names addresses and the syscall, not the URL.
		re.Err = safeErr(oe, secrets, "cannot connect to "+c.api.name)
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		re.Err = safeErr(err, secrets, "request failed")
	}
	return re
}

// safeErr keeps err only if its text contains nothing sensitive.
func safeErr(err error, secrets []string, fallback string) error {
	msg := err.Error()
	if strings.Contains(msg, "?") || redact(msg, secrets) != msg {
		return errors.New(fallback)
	}
	return fmt.Errorf("%s: %w", fallback, err)
}

// redact replaces every secret value in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

func jsonBody(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// WeChat rejects \u0026 and friends with errcode 40033.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// service is whose API a Client calls, for the errors that send the
// operator to api_base.
type service struct{ name, base string }

var (
	serviceWeChat = service{"WeChat", DefaultAPIBase}
	serviceWeCom  = service{"WeCom", DefaultWeComAPIBase}
)
