package wechatauth

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// JS-SDK signing for the pages behind the gateway (WeChat's wx.config):
//
//	GET {path_prefix}/jssdk?url=<location.href.split('#')[0]>
//	→ 200 {"appId","timestamp","nonceStr","signature","url"}   (Cache-Control: no-store)
//	GET {path_prefix}/jssdk.js   a helper that fetches that and calls wx.config
//
// The signature is sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=URL")
// over the page URL exactly as the page has it, fragment removed; the
// jsapi_ticket itself never leaves the gateway.
//
// Why no session is needed, and why this is no signing oracle for other
// sites: a signature is only good for the one URL it covers, and WeChat
// checks that URL against the page that calls wx.config and against the
// account's JS接口安全域名. So the only thing worth guarding is which URLs
// get signed: this site's own scheme, host and port, or a jssdk_domains
// entry, nothing else. "This site's host" counts only when the site's
// address names it (sitenames.go): on a catch-all site the Host header is
// whatever the request says, so there only jssdk_domains count. Anyone may obtain a signature for one of our pages —
// a visitor of a public page must — but it is useless anywhere but on that
// page. Requiring a session would break public pages (share buttons on an
// article) and protect nothing.
//
// Browsers add what they know about the caller, and that is checked too:
// a request with an Origin header (every cross-origin fetch has one) must
// come from the origin of the URL it asks to sign, so a page on one
// jssdk_domains host cannot collect signatures for another; Origin "null"
// (sandboxed frames, file:) is refused; a cross-site request without an
// Origin (a <script> or <img> include, a link) is refused. Cross-origin
// pages on jssdk_domains hosts get Access-Control-Allow-Origin for their own
// origin only, and the fetch needs no cookies.
//
// Rate: a signature is one SHA-1 over a few hundred bytes with a cached
// ticket, so a flood costs little CPU and no WeChat calls: the ticket is
// fetched once per account and cached until shortly before it expires, and
// after a failed fetch further fetches are held off for ticketHoldOff, so
// hammering the endpoint cannot spend the account's getticket quota.
// Operators who want a per-client limit put Caddy's rate_limit in front.

//go:embed jssdk.js
var jssdkScript []byte

// jssdkScriptETag lets browsers revalidate the helper cheaply.
var jssdkScriptETag = func() string {
	sum := sha256.Sum256(jssdkScript)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

const (
	// maxJSSDKURL bounds the page URL we sign; location.href of a real page
	// is far shorter.
	maxJSSDKURL = 4096
	// jssdkNonceLen is nonceStr's length ([A-Za-z0-9]; WeChat takes up to 32).
	jssdkNonceLen = 16
	// ticketHoldOff is how long a failed jsapi_ticket fetch keeps the
	// endpoint from asking WeChat again.
	ticketHoldOff = 10 * time.Second
	// ticketTimeout bounds the wait for a ticket on a signing request.
	ticketTimeout = 5 * time.Second
)

// jssdkConfig is what the page passes to wx.config (plus the URL signed,
// so a developer chasing "invalid signature" can compare it with the page's).
type jssdkConfig struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

// jssdkSignature is wx.config's signature (docs/wechat.md §9; WeChat's
// JS-SDK docs, 附录1): the four fields in ASCII order of their keys, raw
// values joined as a query string, SHA-1, lowercase hex.
func jssdkSignature(ticket, nonceStr string, timestamp int64, pageURL string) string {
	var b strings.Builder
	b.Grow(64 + len(ticket) + len(nonceStr) + len(pageURL))
	b.WriteString("jsapi_ticket=")
	b.WriteString(ticket)
	b.WriteString("&noncestr=")
	b.WriteString(nonceStr)
	b.WriteString("&timestamp=")
	b.WriteString(strconv.FormatInt(timestamp, 10))
	b.WriteString("&url=")
	b.WriteString(pageURL)
	sum := sha1.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// jssdkRefusal is why a signing request is refused: an HTTP status, a
// stable code for programs and a sentence that says what to do.
type jssdkRefusal struct {
	status int
	result signatureResult
	code   string
	msg    string
}

func (r *jssdkRefusal) Error() string { return r.code + ": " + r.msg }

// jssdkRequest validates a signing request and returns the page URL to sign
// (fragment removed, otherwise exactly as sent) and, for a cross-origin
// caller that may read the answer, the origin to allow.
func jssdkRequest(r *http.Request, site origin, rules []domainRule) (pageURL, allowOrigin string, refused *jssdkRefusal) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", "", &jssdkRefusal{http.StatusMethodNotAllowed, signatureBadRequest, "method_not_allowed",
			"use GET with ?url=<the page URL>"}
	}
	raw := r.URL.Query().Get("url")
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" {
		return "", "", &jssdkRefusal{http.StatusBadRequest, signatureBadRequest, "missing_url",
			"pass the page's URL as url=encodeURIComponent(location.href.split('#')[0])"}
	}
	if len(raw) > maxJSSDKURL {
		return "", "", &jssdkRefusal{http.StatusBadRequest, signatureBadRequest, "url_too_long",
			"the page URL is longer than 4096 bytes; shorten its query string"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !printableASCII(raw) {
		return "", "", &jssdkRefusal{http.StatusBadRequest, signatureBadRequest, "invalid_url",
			"url must be the page's absolute address exactly as location.href.split('#')[0] gives it (http or https, percent-encoded)"}
	}
	// The one matcher of return URLs decides: this site's scheme, host and
	// port, or a jssdk_domains rule.
	if safeReturnURL(raw, site, rules) != raw {
		msg := "this gateway signs only pages on " + site.String() + " and its jssdk_domains; add the page's host to jssdk_domains (behind a proxy, also list the proxy in trusted_proxies so the site's scheme and host are known)"
		if site.Host == "" {
			msg = "this site's address names no host (a catch-all such as http://:8080 takes any Host header), so it signs only pages on its jssdk_domains: add the page's host to jssdk_domains, or put the host in the site's address (shop.example.com { … })"
		}
		return "", "", &jssdkRefusal{http.StatusForbidden, signatureRefusedURL, "url_not_allowed", msg}
	}
	pageOrigin, err := makeOrigin(u.Scheme, u.Host)
	if err != nil {
		return "", "", &jssdkRefusal{http.StatusBadRequest, signatureBadRequest, "invalid_url",
			"url must be the page's absolute address exactly as location.href.split('#')[0] gives it"}
	}
	if o := r.Header.Get("Origin"); o != "" {
		caller, ok := parseOrigin(o)
		if !ok || caller != pageOrigin {
			return "", "", &jssdkRefusal{http.StatusForbidden, signatureRefusedOrigin, "origin_mismatch",
				"a page may only ask for its own URL's signature: call this from the page at url (Origin " + pageOrigin.String() + ")"}
		}
		return raw, o, nil
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return "", "", &jssdkRefusal{http.StatusForbidden, signatureRefusedOrigin, "origin_required",
			"fetch the signature from the page's own script (jssdk.js does), not by including or linking this URL"}
	}
	return raw, "", nil
}

// jsapiTickets hands out the account's jsapi_ticket. The client caches it
// (one fetch per account, refreshed before it expires); after a failed fetch
// it holds further fetches off for ticketHoldOff, so a flood of signing
// requests while WeChat fails cannot spend the account's getticket quota.
type jsapiTickets struct {
	fetch   func(context.Context) (string, error)
	now     func() time.Time
	metrics *metricsSet

	mu        sync.Mutex
	holdUntil time.Time
	lastErr   error
}

var errTicketHeldOff = errors.New("a recent jsapi_ticket fetch failed; not asking WeChat again yet")

func (t *jsapiTickets) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	if t.now().Before(t.holdUntil) {
		last := t.lastErr
		t.mu.Unlock()
		t.metrics.ticket(ticketHeldOff)
		return "", errors.Join(errTicketHeldOff, last)
	}
	t.mu.Unlock()
	ticket, err := t.fetch(ctx)
	if err != nil && ctx.Err() == nil {
		t.mu.Lock()
		t.holdUntil, t.lastErr = t.now().Add(ticketHoldOff), err
		t.mu.Unlock()
	}
	return ticket, err
}

// jssdkSigner answers {path_prefix}/jssdk for one handler.
type jssdkSigner struct {
	appID   string
	rules   []domainRule // jssdk_domains
	tickets *jsapiTickets
	sites   *siteNames // whether the site's address names its host
	now     func() time.Time
	logger  *zap.Logger
	metrics *metricsSet
}

// serve answers a signing request for the site at site.
func (s *jssdkSigner) serve(w http.ResponseWriter, r *http.Request, site origin) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	pageURL, allowOrigin, refused := jssdkRequest(r, site, s.rules)
	if allowOrigin != "" {
		hdr.Set("Access-Control-Allow-Origin", allowOrigin)
	}
	if refused != nil {
		s.metrics.signature(refused.result)
		if refused.status == http.StatusMethodNotAllowed {
			hdr.Set("Allow", "GET, HEAD")
		}
		writeJSONError(w, refused.status, refused.code, refused.msg, "")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ticketTimeout)
	defer cancel()
	ticket, err := s.tickets.get(ctx)
	if err != nil {
		s.metrics.signature(signatureTicketUnusable)
		if ce := s.logger.Check(zap.WarnLevel, "no jsapi_ticket for a JS-SDK signature"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		hdr.Set("Retry-After", "10")
		writeJSONError(w, http.StatusServiceUnavailable, "jsapi_ticket_unavailable",
			"WeChat did not provide the JS-SDK ticket; retry in a moment", "")
		return
	}
	ts := s.now().Unix()
	nonce := randomAlnum(jssdkNonceLen)
	s.metrics.signature(signatureSigned)
	writeJSON(w, http.StatusOK, jssdkConfig{
		AppID: s.appID, Timestamp: ts, NonceStr: nonce,
		Signature: jssdkSignature(ticket, nonce, ts, pageURL), URL: pageURL,
	})
}

// newJSSDKSigner builds the account's signer for this site's pages and
// jssdk_domains. Without a client (a relay client holds no app_secret) there
// is no ticket: it signs nothing (nil).
func newJSSDKSigner(acct *account, domains []string, sites *siteNames, now func() time.Time, logger *zap.Logger) *jssdkSigner {
	if acct.client == nil {
		return nil
	}
	rules, _ := parseDomainRules("jssdk_domains", domains) // Validate checked each
	return &jssdkSigner{appID: acct.appID, rules: rules, sites: sites, now: now, logger: logger, metrics: procMetrics,
		tickets: &jsapiTickets{fetch: acct.client.JSAPITicket, now: now, metrics: procMetrics}}
}

// serveEndpoint answers {path_prefix}/jssdk.
func (s *jssdkSigner) serveEndpoint(w http.ResponseWriter, r *http.Request, site origin) error {
	if s == nil {
		writeJSONError(w, http.StatusNotFound, "jssdk_unavailable",
			"this site signs in through a relay and holds no app_secret: load jssdk.js from the relay's site and list this host in the relay's jssdk_domains", "")
		return nil
	}
	if !s.sites.hostNamed(r) {
		// A catch-all site takes any Host: signing "this site's" pages by
		// that header would sign whatever host a request names. Only
		// jssdk_domains count there.
		site = origin{}
	}
	s.serve(w, r, site)
	return nil
}

// serveJSSDKScript serves the helper pages load as {path_prefix}/jssdk.js.
func serveJSSDKScript(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "public, max-age=3600")
	hdr.Set("ETag", jssdkScriptETag)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, jssdkScriptETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(jssdkScript)
	}
}
