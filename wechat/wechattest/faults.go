package wechattest

import (
	"net/http"
	"time"
)

// Fault is how the simulator misbehaves for one call. Fields combine: Delay first,
// then Hang, then the answer (Body, ErrCode or Status); a Fault with only Delay
// answers normally after the delay.
type Fault struct {
	// Delay sleeps before answering, giving up early if the client does.
	Delay time.Duration
	// Hang never answers until the client gives up (or the server closes).
	Hang bool
	// Status answers with this HTTP status instead of 200.
	Status int
	// ErrCode answers {"errcode":ErrCode,"errmsg":…} as WeChat does.
	ErrCode int
	// Body answers this raw body (malformed or truncated JSON, HTML …).
	Body string
	// ContentType of Body; default WeChat's JSON Content-Type.
	ContentType string
	// ClientIP is the caller address an IP-whitelist errmsg (40164) names;
	// "" means the address the call came from.
	ClientIP string
}

// Faults for common tests.
var (
	// FaultBusy is WeChat's "system busy" (-1).
	FaultBusy = Fault{ErrCode: -1}
	// FaultQuota is the daily quota error (45009).
	FaultQuota = Fault{ErrCode: 45009}
	// FaultMalformed is a truncated JSON body.
	FaultMalformed = Fault{Body: `{"access_token":`}
	// FaultHang never answers.
	FaultHang = Fault{Hang: true}
	// FaultMinuteQuota is the per-minute quota error (45011).
	FaultMinuteQuota = Fault{ErrCode: 45011}
	// FaultIPNotWhitelisted is 40164: the caller's IP is not in the account's
	// API IP whitelist; errmsg names the IP as WeChat writes it
	// ("invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: …").
	FaultIPNotWhitelisted = Fault{ErrCode: 40164}
	// FaultTokenIPNotWhitelisted is 61004, the same refusal as the token APIs word it.
	FaultTokenIPNotWhitelisted = Fault{ErrCode: 61004}
	// FaultAwaitingAdmin is 89503: a call from a new IP waits for the
	// administrator's confirmation.
	FaultAwaitingAdmin = Fault{ErrCode: 89503}
	// FaultSecretFrozen is 40243: the AppSecret is frozen.
	FaultSecretFrozen = Fault{ErrCode: 40243}
)

type faultQueue struct {
	n int
	f Fault
}

// Fail makes the next n calls of path (e.g. "/sns/oauth2/access_token") answer with f.
// Faults queued for one path apply in order.
func (s *Simulator) Fail(path string, n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faultQueue{n: n, f: f})
}

func (s *Simulator) nextFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0].f
	if q[0].n--; q[0].n == 0 {
		s.faults[path] = q[1:]
	}
	return f, true
}

// applyFault serves f; it reports whether the request was fully answered.
func (s *Simulator) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-s.done:
			t.Stop()
			return true
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return true
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case f.Body != "":
		ct := f.ContentType
		if ct == "" {
			ct = jsonContentType
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
	case f.ErrCode != 0:
		msg := errMsg(f.ErrCode, r)
		if f.ClientIP != "" && f.ErrCode == 40164 {
			msg = ipMsg(f.ClientIP)
		}
		writeJSONStatus(w, status, errBody(f.ErrCode, msg))
	case f.Status != 0:
		http.Error(w, http.StatusText(status), status)
	default:
		return false
	}
	return true
}
