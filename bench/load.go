package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A sample is one wrk run on one target.
type sample struct {
	rps      float64 // requests per second
	p50, p99 float64 // latency, µs
	cpu      float64 // server-side CPU per request, µs (user + system, from /proc): the sum of the next three
	front    float64 // of which the target's Caddy (the front process)
	upstream float64 // the upstream Caddy
	redis    float64 // redis-server, for a store target
	allocs   float64 // heap allocations per request in the front process (its /debug/vars), -1 when unknown
	requests float64 // requests wrk completed
	upAllocs float64 // the same in the upstream, -1 when there is none (the upstream as the target)
}

// measurements is everything the load part of the report needs.
type measurements struct {
	samples      map[string][]sample // by target label, one per round
	socketErrors []string            // "label: connect 0, read 3, …" for runs that had any
	foreignPct   float64             // CPU other processes used during the rounds, % of one CPU
	loadBefore   string              // /proc/loadavg
	loadAfter    string
}

// measure runs one warm-up per target, then cfg.rounds rounds of every
// target, reversing the order every other round so slow drift (other jobs,
// heat) favours no side of a comparison.
func measure(ctx context.Context, cfg config, l *lab, targets []target, cookie string) (*measurements, error) {
	m := &measurements{samples: map[string][]sample{}, loadBefore: loadavg()}
	if cfg.warmup > 0 {
		logf("warm-up: %v per target", cfg.warmup)
		for _, t := range targets {
			if _, err := m.run(ctx, cfg, l, t, cfg.warmup, cookie); err != nil {
				return nil, err
			}
		}
	}
	busy0, own0, t0 := busyTicks(), l.ownTicks(), time.Now()
	for r := 1; r <= cfg.rounds; r++ {
		for i := range targets {
			t := targets[i]
			if r%2 == 0 {
				t = targets[len(targets)-1-i]
			}
			logf("round %d/%d: %s (%v)", r, cfg.rounds, t.label, cfg.duration)
			s, err := m.run(ctx, cfg, l, t, cfg.duration, cookie)
			if err != nil {
				return nil, err
			}
			m.samples[t.label] = append(m.samples[t.label], s)
		}
	}
	foreign := float64((busyTicks()-busy0)-(l.ownTicks()-own0)) / clockTicks / time.Since(t0).Seconds() * 100
	m.foreignPct = max(foreign, 0)
	m.loadAfter = loadavg()
	return m, nil
}

// run is one wrk run. bench/wrk-report.lua prints wrk's summary as one line
// ("bench-result requests=… p50_us=…") so nothing parses wrk's text output.
func (m *measurements) run(ctx context.Context, cfg config, l *lab, t target, d time.Duration, cookie string) (sample, error) {
	secs := int(d.Seconds())
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	args := append([]string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns), "-d", fmt.Sprintf("%ds", secs),
		"--timeout", "5s", "-s", "bench/wrk-report.lua"}, wrkHeaders(cookie)...)
	argv := pinned(cfg.wrkCPUs, "wrk", append(args, l.url(t))...)
	front, upstream, redis := l.serverSide(t)
	frontCPU, upstreamCPU, redisCPU := cpuTicks(front), cpuTicks(upstream), cpuTicks(redis)
	frontMallocs, upstreamMallocs := mallocs(front), mallocs(upstream)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	frontCPU, upstreamCPU, redisCPU = cpuTicks(front)-frontCPU, cpuTicks(upstream)-upstreamCPU, cpuTicks(redis)-redisCPU
	frontMallocs, upstreamMallocs = mallocs(front)-frontMallocs, mallocs(upstream)-upstreamMallocs
	if err != nil {
		return sample{}, fmt.Errorf("wrk on %s: %w\n%s", l.url(t), err, out)
	}
	v := wrkResult(string(out))
	if v["requests"] <= 0 || v["duration_us"] <= 0 {
		return sample{}, fmt.Errorf("%s: no requests completed, or no bench-result line from wrk:\n%s", t.label, out)
	}
	if v["status_errors"] > 0 {
		return sample{}, fmt.Errorf("%s: %.0f error responses (not 2xx/3xx) from %s:\n%s", t.label, v["status_errors"], l.url(t), out)
	}
	if v["connect"]+v["read"]+v["write"]+v["timeout"] > 0 {
		m.socketErrors = append(m.socketErrors, fmt.Sprintf("%s: connect %.0f, read %.0f, write %.0f, timeout %.0f",
			t.label, v["connect"], v["read"], v["write"], v["timeout"]))
	}
	perRequest := func(ticks int64) float64 { return float64(ticks) / clockTicks * 1e6 / v["requests"] }
	s := sample{
		rps: v["requests"] / (v["duration_us"] / 1e6),
		p50: v["p50_us"], p99: v["p99_us"],
		cpu:   perRequest(frontCPU + upstreamCPU + redisCPU),
		front: perRequest(frontCPU), upstream: perRequest(upstreamCPU), redis: perRequest(redisCPU),
		allocs: -1, upAllocs: -1, requests: v["requests"],
	}
	if frontMallocs > 0 {
		s.allocs = float64(frontMallocs) / v["requests"]
	}
	if upstreamMallocs > 0 {
		s.upAllocs = float64(upstreamMallocs) / v["requests"]
	}
	return s, nil
}

// wrkResult reads the "bench-result k=v …" line of wrk-report.lua.
func wrkResult(out string) map[string]float64 {
	v := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "bench-result "); ok {
			for _, kv := range strings.Fields(rest) {
				k, val, _ := strings.Cut(kv, "=")
				v[k], _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return v
}

// serverSide is the processes doing a target's server-side work: its Caddy
// (the front), the upstream it proxies to (none when the target is the
// upstream itself; idle for forward-auth), and Redis for the store.
func (l *lab) serverSide(t target) (front, upstream, redis []*proc) {
	front = []*proc{l.servers[serverKey(t)]}
	if front[0] != l.upstream {
		upstream = []*proc{l.upstream}
	}
	if t.store == "redis" {
		redis = []*proc{l.redis}
	}
	return front, upstream, redis
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on Linux.
const clockTicks = 100

// cpuTicks is the user+system CPU the processes have used so far, in ticks.
func cpuTicks(ps []*proc) int64 {
	var sum int64
	for _, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue // exited: nothing more to count
		}
		// Fields after "(comm) ": state is the 3rd field of the line, utime the 14th, stime the 15th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		sum += utime + stime
	}
	return sum
}

// ownTicks is the CPU used by everything this benchmark runs: the lab's
// processes, this program, and the children it has waited for (wrk).
func (l *lab) ownTicks() int64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	ticks := func(tv syscall.Timeval) int64 { return (tv.Sec*1e6 + tv.Usec) * clockTicks / 1e6 }
	return cpuTicks(l.procs) + ticks(self.Utime) + ticks(self.Stime) + ticks(children.Utime) + ticks(children.Stime)
}

// busyTicks is the CPU every process of the machine has used so far
// (/proc/stat: user, nice, system, irq, softirq, steal).
func busyTicks() int64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // "cpu" user nice system idle iowait irq softirq steal …
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			sum += n
		}
	}
	return sum
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
