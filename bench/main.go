// Command bench is `make bench`: it measures what wechat_auth costs on top of
// a plain reverse_proxy, then runs the Go micro-benchmarks, the concurrent-login
// load test and the memory test, and prints everything (also to
// bench/results.txt). bench/README.md explains what it does and why.
//
// Run it from the repository root: `go run ./bench` (make bench builds ./caddy
// first). Settings come from the environment, defaults in brackets:
//
//	DURATION [10s]   each measured wrk run (whole seconds: 10s, 1m or 10)
//	WARMUP   [3s]    one warm-up run per target before the first round (0: none)
//	CONNS    [32]    wrk connections          THREADS [2]  wrk threads
//	ROUNDS   [5]     measured rounds; each round runs every target once
//	PAIRS    [ROUNDS] then rounds of each comparison with goals, its base
//	                 and test loaded at the same time (together.go); 0: none
//	PIN      [auto]  auto: wrk on the last CPU, the servers on every CPU;
//	                 split: the servers on the other CPUs; off; or
//	                 WRK_CPUS:SERVER_CPUS such as 1:0 or 2-3:0-1
//	LOGIN_LOAD [1000] concurrent silent logins in TestConcurrentSilentLogins
//	SKIP_GO  [0]     1 skips the Go micro-benchmarks, login and memory tests
//	PROFILE  []      a directory: after the rounds, one more run per front
//	                 target while its Caddy records a CPU profile (LABEL.pprof)
//	COMPARE  []      test labels of the comparisons to run (prot,prot+redis,
//	                 fwdauth); all when empty
//	CADDY    [./caddy]  the binary (built when missing)
//	RESULTS  [bench/results.txt]
//
// It exits non-zero only when something fails to run; a missed target is
// printed as MISSED.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// A target is what one wrk run loads: a path on a Caddy started from one of
// the Caddyfiles in bench/. Targets with the same Caddyfile and store share
// one Caddy process.
type target struct {
	label     string // column title in the report (≤ 10 characters)
	about     string // what it is, for the report's legend
	caddyfile string // in bench/
	path      string
	store     string // "redis": global option `wechat { store redis://… }` and a redis-server for it
}

var (
	plain = target{label: "plain", caddyfile: "plain.Caddyfile", path: "/",
		about: `Caddy A: reverse_proxy to the upstream (a Caddy answering respond "ok" 200)`}
	protected = target{label: "prot", caddyfile: "protected.Caddyfile", path: "/",
		about: "Caddy B: wechat_auth (session checked, identity headers set) + the same reverse_proxy"}
	respond = target{label: "respond", caddyfile: "upstream.Caddyfile", path: "/",
		about: "the upstream itself: Caddy's respond with nothing else"}
	fwdauth = target{label: "fwdauth", caddyfile: "protected.Caddyfile", path: "/wechat_auth/auth",
		about: "Caddy B's forward-auth endpoint, answering 200 + identity headers itself"}
)

// A comparison is one table of the report: test against base, round by round.
// goals applies issue 6's targets (throughput ratio ≥ 0.95, p99 overhead ≤ 10%).
type comparison struct {
	title      string
	base, test target
	goals      bool
}

// comparisons is the whole load benchmark: every target in it is started and
// measured in every round. A new variant is one row.
var comparisons = []comparison{
	{title: "Reverse proxy: plain vs protected", base: plain, test: protected, goals: true},
	{title: "Reverse proxy, Redis shared store configured: plain vs protected", base: plain, goals: true,
		test: target{label: "prot+redis", caddyfile: "protected.Caddyfile", path: "/", store: "redis",
			about: "Caddy B with the global option `wechat { store redis://… }` (a redis-server, no persistence)"}},
	{title: "Forward-auth: Caddy B's /wechat_auth/auth (200 + identity headers) vs a plain Caddy respond (the upstream)",
		base: respond, test: fwdauth},
}

func main() {
	cfg, err := configFromEnv()
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, cfg)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if _, err := os.Stat("bench/protected.Caddyfile"); err != nil {
		return fmt.Errorf("run me from the repository root (make bench, or go run ./bench): %w", err)
	}
	if cfg.compare != nil {
		comparisons, _ = selectComparisons(cfg.compare) // checked by configFromEnv
	}
	targets := allTargets()
	if err := ensureTools(ctx, cfg, targets); err != nil {
		return err
	}
	lab, err := startLab(ctx, cfg, targets)
	if err != nil {
		return err
	}
	defer lab.stop()

	cookie, err := lab.login(ctx, loginTarget(targets))
	if err == nil {
		err = lab.checkTargets(ctx, targets, cookie)
	}
	if err != nil {
		return lab.failed(ctx, err)
	}
	m, err := measure(ctx, cfg, lab, targets, cookie)
	if err == nil {
		err = lab.checkTargets(ctx, targets, cookie) // the session still holds: wrk never measured redirects
	}
	var pairs map[string][]pairSample
	if err == nil && cfg.pairs > 0 {
		pairs, err = measureTogether(ctx, cfg, lab, cookie)
	}
	if err != nil {
		return lab.failed(ctx, err)
	}
	var profiles []string
	if cfg.profileDir != "" {
		if profiles, err = profileAll(ctx, cfg, lab, targets, cookie); err != nil {
			return lab.failed(ctx, err)
		}
	}
	lab.stop()

	r := newReport()
	r.header(ctx, cfg, lab, targets, m, cookie)
	for _, c := range comparisons {
		r.table(c, m)
	}
	r.pairTables(cfg, pairs)
	r.goals(cfg, m, pairs)
	for _, p := range profiles {
		r.say("  (info)  CPU profile under load: %s (go tool pprof -top %s %s)", p, cfg.caddy, p)
	}
	buildFailed := false
	if cfg.skipGo {
		r.say("\nGo micro-benchmarks, login load and memory tests: skipped (SKIP_GO=1)")
	} else {
		buildFailed = runGoSteps(ctx, cfg, r)
	}
	r.say("\nReproduce: make bench   (DURATION, CONNS, ROUNDS, PIN, … in bench/README.md)")
	if err := os.WriteFile(cfg.results, r.buf.Bytes(), 0o644); err != nil {
		return err
	}
	logf("written to %s", cfg.results)
	if buildFailed {
		return fmt.Errorf("a Go step did not build (see above)")
	}
	return nil
}

// allTargets lists every target of every comparison once, in table order.
func allTargets() []target {
	var ts []target
	seen := map[string]bool{}
	for _, c := range comparisons {
		for _, t := range []target{c.base, c.test} {
			if !seen[t.label] {
				seen[t.label] = true
				ts = append(ts, t)
			}
		}
	}
	return ts
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
