package wechattest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Redirecting is an API base that moved: in front of a Server, it answers
// the requests for some API paths with an HTTP redirect to Elsewhere, a
// second loopback server that only records what reaches it, and passes every
// other request on to the Server. A client that follows the redirect sends
// Elsewhere what it sent WeChat: the query (secret, code, token), a POST
// body again on 307, and the original URL as the Referer.
type Redirecting struct {
	// URL is the base URL to configure as the API (and open) base.
	URL string

	front, elsewhere *httptest.Server

	mu      sync.Mutex
	reached []string // "METHOD path" of each request Elsewhere received
}

// NewRedirecting starts a Redirecting in front of srv that answers the
// given API paths with status (301, 302, 303, 307 or 308). Close it when
// done.
func NewRedirecting(srv *Server, status int, paths ...string) *Redirecting {
	rd := &Redirecting{}
	rd.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd.mu.Lock()
		rd.reached = append(rd.reached, r.Method+" "+r.URL.Path)
		rd.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"errcode":0,"access_token":"stolen","expires_in":7200,"openid":"oStolen"}`))
	}))
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	moved := map[string]bool{}
	for _, p := range paths {
		moved[p] = true
	}
	rd.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !moved[r.URL.Path] {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Location", rd.elsewhere.URL+r.URL.RequestURI())
		w.WriteHeader(status)
	}))
	rd.URL = rd.front.URL
	return rd
}

// Reached returns "METHOD path" of every request that reached Elsewhere.
func (rd *Redirecting) Reached() []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return append([]string(nil), rd.reached...)
}

// Close shuts both servers down.
func (rd *Redirecting) Close() {
	rd.front.Close()
	rd.elsewhere.Close()
}
