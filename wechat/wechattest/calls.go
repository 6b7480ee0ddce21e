package wechattest

import (
	"net/url"
	"time"
)

// Call is one request the simulator received, so tests can assert what a client did
// (for example "exactly one code exchange happened").
type Call struct {
	Method string
	Path   string
	Query  url.Values
	Body   string
	Time   time.Time
}

// Calls returns the requests received so far, oldest first.
func (s *Simulator) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount returns how many requests path received.
func (s *Simulator) CallCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Path == path {
			n++
		}
	}
	return n
}

// ResetCalls forgets the requests received so far.
func (s *Simulator) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

func (s *Simulator) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}
