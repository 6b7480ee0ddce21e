package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// A report prints to stdout and keeps a copy for bench/results.txt.
type report struct {
	buf     bytes.Buffer
	summary []summary // one per comparison, in table order
}

// summary is a comparison's medians over the rounds, for the verdicts.
type summary struct {
	c                          comparison
	ratio, over, cpuRatio      float64
	frontRatio, upRatio        float64 // front process's and upstream's CPU per request, test ÷ base
	baseRPS, testRPS           float64
	baseP99, testP99           float64
	baseFront, testFront       float64
	baseAllocs, testAllocs     float64
	baseUpAllocs, testUpAllocs float64
	minRatio, maxRatio         float64
	minFront, maxFront         float64
}

func newReport() *report { return &report{} }

func (r *report) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	fmt.Print(line)
	r.buf.WriteString(line)
}

func (r *report) header(ctx context.Context, cfg config, l *lab, targets []target, m *measurements, cookie string) {
	commit := "unknown"
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		if exec.CommandContext(ctx, "git", "diff", "--quiet", "HEAD", "--", ".").Run() != nil {
			commit += " (with uncommitted changes)"
		}
	}
	r.say("caddy-wechat-auth benchmark — %s", time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	r.say("\nMachine")
	r.say("  CPU:      %s, nproc %d", field("/proc/cpuinfo", "model name"), runtime.NumCPU())
	r.say("  memory:   %s", field("/proc/meminfo", "MemTotal"))
	r.say("  kernel:   Linux %s", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	r.say("  go:       %s", strings.TrimPrefix(firstLine(ctx, cfg.goCmd, "version"), "go version "))
	r.say("  caddy:    %s (commit %s)", firstLine(ctx, cfg.caddy, "version"), commit)
	wrk := strings.Fields(firstLine(ctx, "wrk", "-v")) // "wrk debian/4.1.0-3+b2 [epoll] Copyright …"
	r.say("  wrk:      %s", strings.Join(wrk[:min(2, len(wrk))], " "))
	if l.redis != nil {
		v := strings.Fields(firstLine(ctx, "redis-server", "--version")) // "Redis server v=7.0.15 sha=… …"
		r.say("  redis:    %s", strings.Join(v[:min(3, len(v))], " "))
	}
	r.say("  loadavg:  %s before the load runs, %s after", m.loadBefore, m.loadAfter)

	pin := "none (every process on every CPU)"
	switch {
	case cfg.wrkCPUs != "" && cfg.serverCPUs == "":
		pin = fmt.Sprintf("wrk on CPU %s (taskset); the servers on every CPU (GOMAXPROCS %d, as a user's Caddy)", cfg.wrkCPUs, runtime.NumCPU())
	case cfg.wrkCPUs != "":
		pin = fmt.Sprintf("wrk on CPU %s; every server on CPU %s (taskset)", cfg.wrkCPUs, cfg.serverCPUs)
	}
	r.say("\nLoad: wrk -t%d -c%d -d%ds on 127.0.0.1, %d rounds, %v warm-up per target,",
		cfg.threads, cfg.conns, int(cfg.duration.Seconds()), cfg.rounds, cfg.warmup)
	r.say("      targets alternated (order reversed every other round); CPU pinning: %s.", pin)
	r.say("      Every request is a page request of WeChat's browser (User-Agent, Accept, Accept-Language,")
	r.say("      Accept-Encoding) with a real %s cookie (%d bytes, minted by logging in as '%s' through", cookieName, len(cookie), mockUser)
	r.say("      Caddy B and the simulator) followed by the site's own cookie (%s).", siteCookie)
	for _, t := range targets {
		r.say("  %-10s = %s", t.label, t.about)
	}
	r.say("  ratio = test req/s ÷ base req/s; p99 over = test p99 ÷ base p99 − 1; CPU/req = user+system CPU the")
	r.say("  server-side processes (the Caddy, the upstream, Redis if used) spent per request during the run, from")
	r.say("  /proc; CPU ratio = test ÷ base, the cost in CPU, less sensitive than req/s to other load on the machine.")
	r.say("  Second table: the same CPU per process — front = the target's Caddy, what wechat_auth adds to; up = the")
	r.say("  upstream Caddy (what the headers sent to it cost it); redis — and allocs = heap allocations per request in")
	r.say("  the front and the upstream (each runtime's count via /debug/vars: exact, whatever else runs on the machine).")
	r.say("  Median row: each column's median over the rounds; the ratios and p99 over are medians of the per-round values.")
}

// table prints one comparison round by round and its median row.
func (r *report) table(c comparison, m *measurements) {
	const format = "%-6s %10s %10s %6s %10s %10s %10s %10s %7s %9s %10s %6s"
	a, b := m.samples[c.base.label], m.samples[c.test.label]
	row := func(label string, a, b sample, ratio, over, cpuRatio float64) {
		r.say(format, label, fmt.Sprintf("%.0f", a.rps), fmt.Sprintf("%.0f", b.rps), fmt.Sprintf("%.3f", ratio),
			ms(a.p50), ms(b.p50), ms(a.p99), ms(b.p99), fmt.Sprintf("%+.1f%%", over),
			fmt.Sprintf("%.1fµs", a.cpu), fmt.Sprintf("%.1fµs", b.cpu), fmt.Sprintf("%.3f", cpuRatio))
	}
	r.say("\n%s", c.title)
	r.say(format, "round", c.base.label, c.test.label, "ratio", c.base.label, c.test.label, c.base.label, c.test.label, "p99", c.base.label, c.test.label, "CPU")
	r.say(format, "", "req/s", "req/s", "", "p50", "p50", "p99", "p99", "over", "CPU/req", "CPU/req", "ratio")
	var ratios, overs, cpuRatios []float64
	for i := range a {
		ratio, over, cpuRatio := b[i].rps/a[i].rps, (b[i].p99/a[i].p99-1)*100, b[i].cpu/a[i].cpu
		ratios, overs, cpuRatios = append(ratios, ratio), append(overs, over), append(cpuRatios, cpuRatio)
		row(fmt.Sprint(i+1), a[i], b[i], ratio, over, cpuRatio)
	}
	s := summary{c: c, ratio: median(ratios), over: median(overs), cpuRatio: median(cpuRatios),
		minRatio: slices.Min(ratios), maxRatio: slices.Max(ratios)}
	med := func(ss []sample) sample {
		var rps, p50, p99, cpu []float64
		for _, x := range ss {
			rps, p50, p99, cpu = append(rps, x.rps), append(p50, x.p50), append(p99, x.p99), append(cpu, x.cpu)
		}
		return sample{rps: median(rps), p50: median(p50), p99: median(p99), cpu: median(cpu)}
	}
	ma, mb := med(a), med(b)
	s.baseRPS, s.testRPS, s.baseP99, s.testP99 = ma.rps, mb.rps, ma.p99, mb.p99
	row("median", ma, mb, s.ratio, s.over, s.cpuRatio)
	r.say("  per-round throughput ratio range: %.3f … %.3f", s.minRatio, s.maxRatio)
	r.processTable(c, a, b, &s)
	r.summary = append(r.summary, s)
}

// processTable prints a comparison's CPU per request by process and the
// front process's allocations, round by round, and fills s's medians.
func (r *report) processTable(c comparison, a, b []sample, s *summary) {
	const format = "%-6s %10s %10s %7s %10s %10s %7s %10s %10s %10s %10s %10s"
	us := func(v float64) string { return fmt.Sprintf("%.1fµs", v) }
	allocs := func(v float64) string {
		if v < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", v)
	}
	row := func(label string, a, b sample, front, up float64) {
		redis := "—"
		if c.test.store != "" {
			redis = us(b.redis)
		}
		upRatio := "—" // the base is the upstream itself
		if up > 0 {
			upRatio = fmt.Sprintf("%.3f", up)
		}
		r.say(format, label, us(a.front), us(b.front), fmt.Sprintf("%.3f", front), us(a.upstream), us(b.upstream),
			upRatio, redis, allocs(a.allocs), allocs(b.allocs), allocs(a.upAllocs), allocs(b.upAllocs))
	}
	r.say("  CPU per request by process, and heap allocations per request in the front and the upstream:")
	r.say(format, "round", "front", "front", "front", "up", "up", "up", "redis", "allocs", "allocs", "up allocs", "up allocs")
	r.say(format, "", c.base.label, c.test.label, "ratio", c.base.label, c.test.label, "ratio", c.test.label, c.base.label, c.test.label,
		c.base.label, c.test.label)
	var fronts, ups []float64
	for i := range a {
		front, up := b[i].front/a[i].front, ratioOrZero(b[i].upstream, a[i].upstream)
		fronts, ups = append(fronts, front), append(ups, up)
		row(fmt.Sprint(i+1), a[i], b[i], front, up)
	}
	col := func(ss []sample, f func(sample) float64) float64 {
		var v []float64
		for _, x := range ss {
			v = append(v, f(x))
		}
		return median(v)
	}
	medRow := func(ss []sample) sample {
		return sample{front: col(ss, func(x sample) float64 { return x.front }), upstream: col(ss, func(x sample) float64 { return x.upstream }),
			redis: col(ss, func(x sample) float64 { return x.redis }), allocs: col(ss, func(x sample) float64 { return x.allocs }),
			upAllocs: col(ss, func(x sample) float64 { return x.upAllocs })}
	}
	s.frontRatio, s.upRatio = median(fronts), median(ups)
	s.minFront, s.maxFront = slices.Min(fronts), slices.Max(fronts)
	ma, mb := medRow(a), medRow(b)
	s.baseFront, s.testFront, s.baseAllocs, s.testAllocs = ma.front, mb.front, ma.allocs, mb.allocs
	s.baseUpAllocs, s.testUpAllocs = ma.upAllocs, mb.upAllocs
	row("median", ma, mb, s.frontRatio, s.upRatio)
	r.say("  per-round front CPU ratio range: %.3f … %.3f", s.minFront, s.maxFront)
}

// ratioOrZero is a ÷ b, or 0 when b is (no upstream: the upstream target).
func ratioOrZero(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// goals prints issue 6's targets as PASS or MISSED for every comparison that
// has them, and the other comparisons' ratios for information.
func (r *report) goals(cfg config, m *measurements, pairs map[string][]pairSample) {
	noisy := ""
	if m.foreignPct > 10 {
		noisy = " (machine busy, see NOTE)"
	}
	r.say("\nTargets (issue 30: throughput and front CPU; issue 6: p99)")
	for _, s := range r.summary {
		pair := s.c.test.label + "/" + s.c.base.label
		if !s.c.goals {
			r.say("  (info)  %s ÷ %s: throughput %.3f, server CPU per request %.3f, front CPU per request %.3f, allocs/req %s vs %s",
				s.c.test.label, s.c.base.label, s.ratio, s.cpuRatio, s.frontRatio, allocText(s.testAllocs), allocText(s.baseAllocs))
			continue
		}
		r.verdict(s.ratio >= 0.97, "%s throughput ratio ≥ 0.97 at %d connections: %.3f (%.0f vs %.0f req/s)%s",
			pair, cfg.conns, s.ratio, s.testRPS, s.baseRPS, noisy)
		r.verdict(s.frontRatio <= 1.03, "%s front-process CPU per request ≤ 1.03 × base: %.3f (%.1f vs %.1f µs)",
			pair, s.frontRatio, s.testFront, s.baseFront)
		if ps := summarizePairs(pairs[s.c.test.label]); ps.n > 0 {
			r.say("  (info)  %s front-process CPU per request in %d simultaneous pairs: median %.3f, pooled %.3f (pairs %.3f … %.3f)",
				pair, ps.n, ps.median, ps.pooled, ps.min, ps.max)
		}
		r.verdict(s.over <= 10, "%s p99 latency overhead ≤ 10%%: %+.1f%% (%s vs %s)%s", pair, s.over, ms(s.testP99), ms(s.baseP99), noisy)
		r.say("  (info)  %s server CPU per request (front + upstream + redis): %.3f; upstream's: %.3f; allocs/req front %s vs %s, upstream %s vs %s",
			pair, s.cpuRatio, s.upRatio, allocText(s.testAllocs), allocText(s.baseAllocs), allocText(s.testUpAllocs), allocText(s.baseUpAllocs))
	}
	for _, e := range m.socketErrors {
		r.say("  (info)  wrk socket errors: %s", e)
	}
	if m.foreignPct > 10 {
		r.say("  NOTE    other processes on this machine used %.0f%% of a CPU (of %d%%) during the measured runs:", m.foreignPct, runtime.NumCPU()*100)
		r.say("          req/s and p99 are disturbed by them; the CPU/req ratio is the steadier figure.")
	} else {
		r.say("  (info)  other processes on this machine used %.0f%% of a CPU during the measured runs", m.foreignPct)
	}
}

func allocText(v float64) string {
	if v < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f", v)
}

func (r *report) verdict(ok bool, format string, args ...any) {
	word := "MISSED  "
	if ok {
		word = "PASS    "
	}
	r.say("  "+word+format, args...)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func ms(us float64) string { return fmt.Sprintf("%.3fms", us/1000) }

// field is the value of the first "name: value" line of a /proc file.
func field(path, name string) string {
	for _, line := range strings.Split(readFile(path), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
			v = strings.TrimSpace(v)
			if name == "MemTotal" { // "24641808 kB"
				var kb float64
				fmt.Sscan(v, &kb)
				return fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
			return v
		}
	}
	return "unknown"
}

func readFile(path string) string { b, _ := os.ReadFile(path); return string(b) }

// firstLine is the first line a command prints, or "unknown" (wrk -v
// prints its version and exits 1).
func firstLine(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "unknown"
	}
	return line
}
