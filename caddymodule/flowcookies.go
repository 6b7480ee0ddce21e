package wechatauth

import (
	"net/http"
	"time"
)

// flowCookies keeps each login in progress in a short-lived cookie of its
// own, named after its state, so several tabs can sign in at once without
// overwriting each other and the callback finds its own flow without
// trying each.
type flowCookies struct {
	prefix string // <cookie_name>_flow_
	codec  cookieCodec
	jar    cookieJar
	now    func() time.Time
}

// name derives a flow cookie's name from its state.
func (fc *flowCookies) name(state string) string {
	return fc.prefix + state[:flowIDLen]
}

// set seals f into its cookie for maxAge.
func (fc *flowCookies) set(w http.ResponseWriter, site origin, f flowState, maxAge time.Duration) error {
	name := fc.name(f.State)
	value, err := fc.codec.encode(name, f.marshal())
	if err != nil {
		return err
	}
	fc.jar.write(w, site, name, value, maxAge)
	return nil
}

// expire deletes the flow cookie of state.
func (fc *flowCookies) expire(w http.ResponseWriter, site origin, state string) {
	fc.jar.expire(w, site, fc.name(state))
}

// read returns the flow cookie belonging to state. The state in the
// callback URL must equal the one sealed in this browser's flow cookie:
// that is the login-CSRF defence, checked before any code is redeemed.
func (fc *flowCookies) read(r *http.Request, state string) (flowState, bool) {
	var f flowState
	ok := false
	name := fc.name(state)
	cookieValues(r.Header, name, func(v string) bool {
		payload, err := fc.codec.decode(name, v)
		if err != nil || f.unmarshal(payload) != nil {
			return false
		}
		ok = constantTimeEqual(f.State, state) && f.Created > fc.now().Add(-flowTTL).Unix()
		return ok
	})
	return f, ok
}

// capAt expires the oldest flow cookies so that, with the one about to be
// set, a browser holds at most maxFlows of them.
func (fc *flowCookies) capAt(w http.ResponseWriter, r *http.Request, site origin) {
	type flowCookie struct {
		name    string
		created int64
	}
	var flows []flowCookie
	for _, c := range r.Cookies() {
		if len(c.Name) <= len(fc.prefix) || c.Name[:len(fc.prefix)] != fc.prefix {
			continue
		}
		var f flowState
		created := int64(0) // undecodable flows go first
		if payload, err := fc.codec.decode(c.Name, c.Value); err == nil && f.unmarshal(payload) == nil {
			created = f.Created
		}
		flows = append(flows, flowCookie{c.Name, created})
	}
	for len(flows) >= maxFlows {
		oldest := 0
		for i, f := range flows {
			if f.created < flows[oldest].created {
				oldest = i
			}
		}
		fc.jar.expire(w, site, flows[oldest].name)
		flows = append(flows[:oldest], flows[oldest+1:]...)
	}
}
