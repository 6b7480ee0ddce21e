package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WeCom (企业微信) self-built app sign-in (docs/wechat.md, "WeCom"). A
// WeComClient reuses the Official Account client's machinery (deadlines, no
// redirects followed, retries, redaction, the token cache) with the corp ID in
// place of the AppID and the app's secret in place of the AppSecret, so the
// secret, codes, user_tickets and tokens are redacted from every error.

// WeCom's hosts: the JSON APIs, the in-client authorize page (the same host as
// the Official Account's) and the desktop login page.
const (
	DefaultWeComAPIBase   = "https://qyapi.weixin.qq.com"
	DefaultWeComLoginBase = "https://login.work.weixin.qq.com"
)

// WeCom scopes: snsapi_base is silent (userid only); snsapi_privateinfo asks the
// member's consent and yields a user_ticket for getuserdetail.
const (
	WeComScopeBase        = "snsapi_base"
	WeComScopePrivateInfo = "snsapi_privateinfo"
)

// WeCom API paths; they double as the Op of errors.
const (
	pathWeComToken       = "/cgi-bin/gettoken"
	pathWeComAuthUser    = "/cgi-bin/auth/getuserinfo"
	pathWeComOldUser     = "/cgi-bin/user/getuserinfo"
	pathWeComUserDetail  = "/cgi-bin/auth/getuserdetail"
	pathWeComUserGet     = "/cgi-bin/user/get"
	pathWeComDepartments = "/cgi-bin/department/simplelist"
	pathWeComLogin       = "/wwlogin/sso/login"
)

const weComTokenKey = "wecom"

// WeComConfig configures a WeComClient. CorpID, AgentID and Secret are required.
type WeComConfig struct {
	// CorpID is the corp's ID (企业ID, ww…), from the admin console's 我的企业 → 企业信息.
	CorpID string
	// AgentID is the self-built app's AgentId (应用管理 → the app), a number.
	AgentID string
	// Secret is that app's Secret (each app has its own); it is sent to WeCom and nowhere else.
	Secret string
	// APIBase is the JSON API base URL; "" means DefaultWeComAPIBase.
	APIBase string
	// OpenBase is the in-client authorize page's base URL; "" means DefaultOpenBase.
	OpenBase string
	// LoginBase is the desktop login page's base URL; "" means DefaultWeComLoginBase.
	LoginBase string
	// HTTPClient, Timeout, MaxBodyBytes, MaxRetries, RetryBackoff, Now and
	// Observe mean what they mean in Config.
	HTTPClient *http.Client
	// Timeout bounds each attempt of each call; 0 means 5s.
	Timeout time.Duration
	// MaxBodyBytes caps a response body; 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxRetries is the number of extra attempts for calls safe to repeat; 0 means 2, negative none.
	MaxRetries int
	// RetryBackoff is the first pause between attempts; 0 means 100ms.
	RetryBackoff time.Duration
	// Now tells the time for the token cache; nil means time.Now.
	Now func() time.Time
	// Observe hears about every attempt of every call (API path, duration, error).
	Observe func(op string, took time.Duration, err error)
}

// WeComClient calls the WeCom APIs for one self-built app of one corp. It is
// safe for concurrent use; its access_token is cached per client, that is per
// corp and secret, and fetched by one caller at a time.
type WeComClient struct {
	c         *Client
	agentID   string
	loginBase string
}

// NewWeCom checks cfg and returns a WeComClient. Its error names the field to fix.
func NewWeCom(cfg WeComConfig) (*WeComClient, error) {
	if strings.TrimSpace(cfg.CorpID) == "" {
		return nil, errors.New("wecom: CorpID is empty: set the corp ID (企业微信管理后台 → 我的企业 → 企业信息 → 企业ID)")
	}
	if _, err := strconv.ParseUint(cfg.AgentID, 10, 63); err != nil {
		return nil, errors.New("wecom: AgentID is not a number: set the app's AgentId (企业微信管理后台 → 应用管理 → the app)")
	}
	if strings.TrimSpace(cfg.Secret) == "" {
		return nil, errors.New("wecom: Secret is empty: set the app's Secret (企业微信管理后台 → 应用管理 → the app → Secret)")
	}
	apiBase := cfg.APIBase
	if apiBase == "" {
		apiBase = DefaultWeComAPIBase
	}
	loginBase, err := cleanBase("LoginBase", cfg.LoginBase, DefaultWeComLoginBase)
	if err != nil {
		return nil, err
	}
	c, err := New(Config{AppID: cfg.CorpID, AppSecret: cfg.Secret, APIBase: apiBase, OpenBase: cfg.OpenBase,
		HTTPClient: cfg.HTTPClient, Timeout: cfg.Timeout, MaxBodyBytes: cfg.MaxBodyBytes, MaxRetries: cfg.MaxRetries,
		RetryBackoff: cfg.RetryBackoff, Now: cfg.Now, Observe: cfg.Observe})
	if err != nil {
		return nil, err
	}
	c.api = serviceWeCom
	return &WeComClient{c: c, agentID: cfg.AgentID, loginBase: loginBase}, nil
}

// CorpID returns the corp's ID.
func (w *WeComClient) CorpID() string { return w.c.cfg.AppID }

// AgentID returns the app's AgentId.
func (w *WeComClient) AgentID() string { return w.agentID }

// AuthorizeURL is the page a member's WeCom client opens to sign in, in the
// documented order (appid, redirect_uri, response_type, scope, state, agentid;
// agentid is required for snsapi_privateinfo). The callback receives
// ?code=CODE&state=STATE; codes live 5 minutes and redeem once.
func (w *WeComClient) AuthorizeURL(redirectURI, scope, state string) string {
	return w.c.openBase + "/connect/oauth2/authorize?appid=" + url.QueryEscape(w.CorpID()) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) + "&response_type=code&scope=" + url.QueryEscape(scope) +
		"&state=" + url.QueryEscape(state) + "&agentid=" + url.QueryEscape(w.agentID) + "#wechat_redirect"
}

// LoginURL is WeCom's desktop login page (scan with WeCom), for browsers
// outside the WeCom client: login_type=CorpApp, appid is the corp ID. Its
// code redeems through Identity like an in-client one, but never carries a
// user_ticket.
func (w *WeComClient) LoginURL(redirectURI, state string) string {
	return w.loginBase + pathWeComLogin + "?login_type=CorpApp&appid=" + url.QueryEscape(w.CorpID()) +
		"&agentid=" + url.QueryEscape(w.agentID) + "&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&state=" + url.QueryEscape(state)
}

type weComTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// Token returns the app's access_token from cgi-bin/gettoken (7200 s),
// cached until 5 minutes before it expires; concurrent callers share one
// fetch. WeCom throttles frequent gettoken calls, so only a rejected token
// (InvalidateToken) or expiry makes a new one.
func (w *WeComClient) Token(ctx context.Context) (string, error) {
	return w.c.cachedOrFetch(ctx, weComTokenKey, pathWeComToken, func(ctx context.Context) (string, error) {
		var res weComTokenResponse
		q := url.Values{"corpid": {w.CorpID()}, "corpsecret": {w.c.cfg.AppSecret}}
		if err := w.c.do(ctx, request{op: pathWeComToken, method: "GET", query: q, retry: true}, &res); err != nil {
			return "", err
		}
		if res.AccessToken == "" || res.ExpiresIn <= 0 {
			return "", &RequestError{Op: pathWeComToken,
				Err: errors.New("response has no access_token or expires_in; check api_base points at " + DefaultWeComAPIBase)}
		}
		w.c.store(weComTokenKey, res.AccessToken, res.ExpiresIn)
		return res.AccessToken, nil
	})
}

// InvalidateToken drops the cached token if it still equals token.
func (w *WeComClient) InvalidateToken(token string) { w.c.invalidate(weComTokenKey, token) }

// isWeComTokenInvalid reports a token WeCom rejects on a data API: invalid
// (40014) or expired (42001; WeCom may also end a token early). 40001 is
// not among them: from WeCom it means the secret, which a refetch cannot fix.
func isWeComTokenInvalid(err error) bool { c := Code(err); return c == 40014 || c == 42001 }

// doToken runs r with the app's token in its query; a rejected token is
// dropped, fetched again and r run once more.
func (w *WeComClient) doToken(ctx context.Context, r request, out any) error {
	base := r.query
	for attempt := 0; ; attempt++ {
		tok, err := w.Token(ctx)
		if err != nil {
			return err
		}
		q := make(url.Values, len(base)+1)
		for k, v := range base {
			q[k] = v
		}
		q.Set("access_token", tok)
		r.query = q
		err = w.c.do(ctx, r, out)
		if attempt > 0 || !isWeComTokenInvalid(err) {
			return err
		}
		w.InvalidateToken(tok)
	}
}
