package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// A goStep is one `go test` run of the report, after the load benchmark
// (with every Caddy of the lab stopped).
type goStep struct {
	title string         // printed heading
	env   []string       // added to the environment
	args  []string       // after go test -count=1 -timeout 15m
	keep  *regexp.Regexp // the output lines to print
	pass  string         // the verdict when go test passes and printed a kept line ("" for none)
	limit bool           // check benchLimits against the output
}

func goSteps(cfg config) []goStep {
	load := strconv.Itoa(cfg.loginLoad)
	return []goStep{{
		title: "Go micro-benchmarks: go test -run '^$' -bench . -benchmem ./caddymodule/",
		args:  []string{"-run", "^$", "-bench", ".", "-benchmem", "./caddymodule/"},
		keep:  regexp.MustCompile(`^(Benchmark|goos|goarch|cpu|PASS|ok)`),
		limit: true,
	}, {
		title: "Login load: LOGIN_LOAD=" + load + " go test -run TestConcurrentSilentLogins -v ./caddymodule/",
		env:   []string{"LOGIN_LOAD=" + load},
		args:  []string{"-run", "^TestConcurrentSilentLogins$", "-v", "./caddymodule/"},
		keep:  regexp.MustCompile(`logins/s`),
		pass:  load + " concurrent silent logins: zero failures, zero identity mix-ups",
	}, {
		title: "Memory: MEMORY_SESSIONS=200000 go test -run TestMemoryBoundAfterManyDistinctSessions -v ./caddymodule/",
		env:   []string{"MEMORY_SESSIONS=200000"},
		args:  []string{"-run", "^TestMemoryBoundAfterManyDistinctSessions$", "-v", "./caddymodule/"},
		keep:  regexp.MustCompile(`heap grew`),
		pass:  "heap after 200,000 distinct sessions within the documented 48 MiB",
	}}
}

// benchLimits are the micro-benchmark targets (issue 6); maxAllocs < 0: no limit.
var benchLimits = []struct {
	name             string
	maxNs, maxAllocs float64
	what             string
}{
	{"BenchmarkSessionCheckRepeat", 1000, 2, "repeat-request session check ≤ 1 µs/op and ≤ 2 allocs/op"},
	{"BenchmarkSessionCheckRepeatRedisStore", 1000, 2, "the same with the Redis store configured (issue 15)"},
	{"BenchmarkSessionCheckFirstSeen", 8000, -1, "first-seen cookie ≤ 8 µs/op"},
	{"BenchmarkServeHTTPAuthenticatedAssertion", 3000, 2, "authenticated ServeHTTP with assertion: the cached assertion, ≤ 2 allocs/op as without (issue 28)"},
}

// runGoSteps runs every step and reports whether one did not build.
func runGoSteps(ctx context.Context, cfg config, r *report) (buildFailed bool) {
	for _, s := range goSteps(cfg) {
		r.say("\n%s", s.title)
		logf("running %s", s.title)
		cmd := exec.CommandContext(ctx, cfg.goCmd, append([]string{"test", "-count=1", "-timeout", "15m"}, s.args...)...)
		cmd.Env = append(os.Environ(), s.env...)
		out, err := cmd.CombinedOutput()
		var kept []string
		for _, line := range strings.Split(string(out), "\n") {
			if s.keep.MatchString(line) {
				// "    load_test.go:62: 1000 concurrent …" → "1000 concurrent …"
				kept = append(kept, strings.TrimRight(testLogPrefix.ReplaceAllString(line, ""), " "))
				r.say("  %s", kept[len(kept)-1])
			}
		}
		switch {
		case err != nil && strings.Contains(string(out), "[build failed]"):
			r.say("%s", indent(tail(string(out), 40)))
			r.say("  FAILED TO RUN: the package does not build")
			buildFailed = true
			continue
		case err != nil:
			r.say("%s", indent(tail(string(out), 40)))
		}
		if s.pass != "" {
			r.verdict(err == nil && len(kept) > 0, "%s", s.pass)
		}
		if s.limit {
			checkBenchLimits(r, string(out))
		}
	}
	return buildFailed
}

var testLogPrefix = regexp.MustCompile(`^\s*\w+_test\.go:\d+: `)

func checkBenchLimits(r *report, out string) {
	for _, l := range benchLimits {
		// "BenchmarkSessionCheckRepeat-2  9442700  120.0 ns/op  0 B/op  0 allocs/op"
		m := regexp.MustCompile(`(?m)^` + l.name + `(-\d+)?\s+\d+\s+([\d.]+) ns/op.*?\s([\d.]+) allocs/op`).FindStringSubmatch(out)
		if m == nil {
			r.verdict(false, "%s: %s did not run", l.what, l.name)
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		allocs, _ := strconv.ParseFloat(m[3], 64)
		ok := ns <= l.maxNs && (l.maxAllocs < 0 || allocs <= l.maxAllocs)
		r.verdict(ok, "%s: %s ns/op, %s allocs/op", l.what, m[2], m[3])
	}
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
