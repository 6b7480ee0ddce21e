package redistest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Proxy is a loopback TCP proxy in front of a Server whose command
// connections a test can stall while its pub/sub connections stay live:
// the "stalled command link" of a real network, where a replica still
// receives every revocation event but its commands get no answer.
type Proxy struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	target string
	ln     net.Listener

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	conns   []net.Conn
	links   []*link
	closed  bool
}

// NewProxy forwards a loopback port to target (a Server's Addr) until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's redis:// URL, database 0.
func (p *Proxy) URL() string { return "redis://" + p.Addr + "/0" }

// StallCommands holds every byte of every connection that has not sent
// SUBSCRIBE, in both directions, until ResumeCommands: connections stay
// open and silent. Pub/sub connections keep flowing.
func (p *Proxy) StallCommands() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// ResumeCommands lets stalled connections flow again.
func (p *Proxy) ResumeCommands() {
	p.mu.Lock()
	p.stalled = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// ResumeDropping ends a stall as a network partition ends: every stalled
// command connection is cut, and what it held (commands sent, answers
// due) is lost. Pub/sub connections are left alone.
func (p *Proxy) ResumeDropping() {
	p.mu.Lock()
	var cut []*link
	for _, l := range p.links {
		l.mu.Lock()
		if !l.pubsub {
			l.cut = true
			cut = append(cut, l)
		}
		l.mu.Unlock()
	}
	p.stalled = false
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, l := range cut {
		_ = l.client.Close()
		_ = l.server.Close()
	}
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed, p.stalled = true, false
	conns := p.conns
	p.conns = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		l := &link{p: p, client: c, server: s}
		p.conns = append(p.conns, c, s)
		p.links = append(p.links, l)
		p.mu.Unlock()
		go l.pump(s, c, true)
		go l.pump(c, s, false)
	}
}

// link is one client connection and its server connection.
type link struct {
	p              *Proxy
	client, server net.Conn
	mu             sync.Mutex
	pubsub         bool
	cut            bool // severed by ResumeDropping: drop what is held
}

// pump copies src to dst, holding each chunk while the proxy stalls
// command connections and this is one.
func (l *link) pump(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && bytes.Contains(bytes.ToUpper(buf[:n]), []byte("SUBSCRIBE")) {
				l.mu.Lock()
				l.pubsub = true
				l.mu.Unlock()
			}
			if !l.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait holds a command connection's chunk while the proxy stalls; it
// reports false when the link was cut meanwhile (drop the chunk).
func (l *link) wait() bool {
	l.mu.Lock()
	pubsub := l.pubsub
	l.mu.Unlock()
	if pubsub {
		return true
	}
	l.p.mu.Lock()
	for l.p.stalled && !l.p.closed {
		l.p.cond.Wait()
	}
	l.p.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.cut
}
