package wechattest

import "net/http"

// ticketResponse is cgi-bin/ticket/getticket's answer (docs/wechat.md §9): a
// success carries errcode 0 and errmsg "ok" in front of the ticket.
type ticketResponse struct {
	ErrCode   int    `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

// handleGetTicket is cgi-bin/ticket/getticket?type=jsapi: each call issues a
// ticket valid for 7200 s and counts against the account's daily quota for
// the path (see WithDailyQuota); earlier tickets stay valid until they expire.
func (s *Simulator) handleGetTicket(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	if r.URL.Query().Get("type") != "jsapi" {
		s.fail(w, r, 40097)
		return
	}
	s.mu.Lock()
	if !s.countLocked(a.ID, "/cgi-bin/ticket/getticket") {
		s.mu.Unlock()
		s.fail(w, r, 45009)
		return
	}
	t := randomID(86)
	s.tickets[t] = &basicToken{app: a.ID, expires: s.now().Add(ticketTTL)}
	a.ticket = t
	s.mu.Unlock()
	s.writeJSON(w, ticketResponse{ErrCode: 0, ErrMsg: "ok", Ticket: t, ExpiresIn: int(ticketTTL.Seconds())})
}

// ValidJSAPITicket reports whether ticket is a jsapi ticket the simulator
// issued to appID that has not expired.
func (s *Simulator) ValidJSAPITicket(appID, ticket string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[ticket]
	return ok && t.app == appID && s.now().Before(t.expires)
}
