package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// Simultaneous pairs (PAIRS): the base and the test of each comparison with
// goals loaded at the same time, each by its own wrk (one thread, half the
// connections), both on the wrk CPU. On this VM a process's CPU per request
// moves by ±25% from one run to the next, front and upstream together (the
// host's speed changes); two runs seconds apart, as the alternated rounds
// compare, see different speeds, two fronts measured in the same seconds see
// the same. The figure is the front processes' CPU per request only: the
// upstream serves both at once, so its CPU cannot be told apart.

// pairSample is one simultaneous run of a comparison's base and test.
type pairSample struct{ base, test sample }

// measureTogether runs cfg.pairs rounds of every comparison with goals, each
// pair at once; the order of the comparisons is reversed every other round.
func measureTogether(ctx context.Context, cfg config, l *lab, cookie string) (map[string][]pairSample, error) {
	var cs []comparison
	for _, c := range comparisons {
		if c.goals {
			cs = append(cs, c)
		}
	}
	out := map[string][]pairSample{}
	for r := 1; r <= cfg.pairs; r++ {
		for i := range cs {
			c := cs[i]
			if r%2 == 0 {
				c = cs[len(cs)-1-i]
			}
			logf("pair %d/%d: %s and %s at once (%v)", r, cfg.pairs, c.base.label, c.test.label, cfg.duration)
			ss, err := runTogether(ctx, cfg, l, []target{c.base, c.test}, cookie)
			if err != nil {
				return nil, err
			}
			out[c.test.label] = append(out[c.test.label], pairSample{base: ss[0], test: ss[1]})
		}
	}
	return out, nil
}

// runTogether loads every target at once for cfg.duration, each with its
// own wrk, and gives each its requests per second, its front's CPU per
// request and its front's allocations per request.
func runTogether(ctx context.Context, cfg config, l *lab, ts []target, cookie string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.duration+30*time.Second)
	defer cancel()
	conns := max(cfg.conns/len(ts), 1)
	type run struct {
		cmd    *exec.Cmd
		out    bytes.Buffer
		front  []*proc
		ticks  int64
		allocs uint64
	}
	runs := make([]*run, len(ts))
	for i, t := range ts {
		front, _, _ := l.serverSide(t)
		runs[i] = &run{front: front}
	}
	for _, r := range runs {
		r.ticks, r.allocs = cpuTicks(r.front), mallocs(r.front)
	}
	for i, t := range ts {
		args := append([]string{"-t", "1", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(cfg.duration.Seconds())),
			"--timeout", "5s", "-s", "bench/wrk-report.lua"}, wrkHeaders(cookie)...)
		argv := pinned(cfg.wrkCPUs, "wrk", append(args, l.url(t))...)
		r := runs[i]
		r.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
		r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
		if err := r.cmd.Start(); err != nil {
			return nil, fmt.Errorf("wrk on %s: %w", l.url(t), err)
		}
	}
	var firstErr error
	for i, r := range runs {
		if err := r.cmd.Wait(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("wrk on %s: %w\n%s", l.url(ts[i]), err, r.out.String())
		}
	}
	for _, r := range runs {
		r.ticks, r.allocs = cpuTicks(r.front)-r.ticks, mallocs(r.front)-r.allocs
	}
	if firstErr != nil {
		return nil, firstErr
	}
	ss := make([]sample, len(ts))
	for i, r := range runs {
		v := wrkResult(r.out.String())
		if v["requests"] <= 0 || v["duration_us"] <= 0 {
			return nil, fmt.Errorf("%s: no requests completed, or no bench-result line from wrk:\n%s", ts[i].label, r.out.String())
		}
		if v["status_errors"] > 0 {
			return nil, fmt.Errorf("%s: %.0f error responses (not 2xx/3xx):\n%s", ts[i].label, v["status_errors"], r.out.String())
		}
		ss[i] = sample{rps: v["requests"] / (v["duration_us"] / 1e6), front: float64(r.ticks) / clockTicks * 1e6 / v["requests"],
			allocs: -1, upAllocs: -1, requests: v["requests"]}
		if r.allocs > 0 {
			ss[i].allocs = float64(r.allocs) / v["requests"]
		}
	}
	return ss, nil
}

// pairSummary is a comparison's simultaneous pairs in figures: the median
// of the per-pair front CPU ratios, their range, and the pooled ratio (all
// of the test's front CPU per request ÷ all of the base's).
type pairSummary struct {
	median, min, max, pooled float64
	n                        int
}

func summarizePairs(ps []pairSample) pairSummary {
	var ratios []float64
	var baseCPU, baseReq, testCPU, testReq float64
	for _, p := range ps {
		ratios = append(ratios, p.test.front/p.base.front)
		baseCPU, baseReq = baseCPU+p.base.front*p.base.requests, baseReq+p.base.requests
		testCPU, testReq = testCPU+p.test.front*p.test.requests, testReq+p.test.requests
	}
	if len(ratios) == 0 {
		return pairSummary{}
	}
	return pairSummary{median: median(ratios), min: slices.Min(ratios), max: slices.Max(ratios),
		pooled: (testCPU / testReq) / (baseCPU / baseReq), n: len(ratios)}
}

// pairTables prints the simultaneous pairs of each comparison with goals,
// pair by pair, with the median and the pooled ratio.
func (r *report) pairTables(cfg config, pairs map[string][]pairSample) {
	if len(pairs) == 0 {
		return
	}
	const format = "%-6s %10s %10s %7s %10s %10s %10s %10s"
	for _, c := range comparisons {
		ps := pairs[c.test.label]
		if !c.goals || len(ps) == 0 {
			continue
		}
		r.say("\nSimultaneous pairs: %s and %s loaded at once (wrk -t1 -c%d each, %ds), front CPU per request",
			c.base.label, c.test.label, max(cfg.conns/2, 1), int(cfg.duration.Seconds()))
		r.say(format, "pair", "front", "front", "front", "req/s", "req/s", "allocs", "allocs")
		r.say(format, "", c.base.label, c.test.label, "ratio", c.base.label, c.test.label, c.base.label, c.test.label)
		for i, p := range ps {
			r.say(format, fmt.Sprint(i+1), fmt.Sprintf("%.1fµs", p.base.front), fmt.Sprintf("%.1fµs", p.test.front),
				fmt.Sprintf("%.3f", p.test.front/p.base.front), fmt.Sprintf("%.0f", p.base.rps), fmt.Sprintf("%.0f", p.test.rps),
				allocText(p.base.allocs), allocText(p.test.allocs))
		}
		s := summarizePairs(ps)
		r.say("  median front CPU ratio %.3f (pairs %.3f … %.3f); pooled (all CPU ÷ all requests, test ÷ base) %.3f",
			s.median, s.min, s.max, s.pooled)
	}
}
