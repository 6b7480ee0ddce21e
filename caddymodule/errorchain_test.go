package wechatauth

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// statusSpy records the statuses that reach the client.
type statusSpy struct {
	*httptest.ResponseRecorder
	codes []int
}

func (s *statusSpy) WriteHeader(code int) {
	s.codes = append(s.codes, code)
	s.ResponseRecorder.WriteHeader(code)
}

func (s *statusSpy) Write(b []byte) (int, error) {
	if len(s.codes) == 0 {
		s.codes = append(s.codes, http.StatusOK)
	}
	return s.ResponseRecorder.Write(b)
}

// What counts as an error route's answer: a body, or a status other than
// the error's; the error's own status alone (Caddy's terminal route ends in
// exactly that) or nothing is no answer, and nothing reached the client.
func TestErrorRouteWriterTellsAnAnswerFromCaddysEmptyEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		route    func(w http.ResponseWriter)
		answered bool
		sent     []int // the statuses the client got
	}{
		{"nothing", func(http.ResponseWriter) {}, false, nil},
		{"the error's status only", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }, false, nil},
		{"early hints, then nothing", func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints) }, false, []int{http.StatusEarlyHints}},
		{"a body", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden); _, _ = w.Write([]byte("x")) }, true, []int{http.StatusForbidden}},
		{"a body without a status", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, true, []int{http.StatusOK}},
		{"a redirect", func(w http.ResponseWriter) { w.WriteHeader(http.StatusFound) }, true, []int{http.StatusFound}},
		{"a flush", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusTeapot)
			_ = http.NewResponseController(w).Flush()
		}, true, []int{http.StatusTeapot}},
	} {
		spy := &statusSpy{ResponseRecorder: httptest.NewRecorder()}
		d := &errorRouteWriter{ResponseWriter: spy, status: http.StatusForbidden}
		tc.route(d)
		if d.answered() != tc.answered {
			t.Errorf("%s: answered %v", tc.name, d.answered())
		}
		if d.answered() {
			d.pass()
		}
		if !reflect.DeepEqual(spy.codes, tc.sent) {
			t.Errorf("%s: the client got statuses %v, want %v", tc.name, spy.codes, tc.sent)
		}
	}
}
