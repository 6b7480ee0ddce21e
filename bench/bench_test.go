package main

import (
	"strings"
	"testing"
)

// The load benchmark itself runs only in make bench (it needs wrk and minutes);
// these tests cover the parsing and arithmetic the report rests on.

func TestWrkResultReadsTheLuaLine(t *testing.T) {
	out := "Running 2s test @ http://127.0.0.1:1/\n  2 threads and 32 connections\n" +
		"bench-result requests=5000 duration_us=2000000 p50_us=4100 p99_us=11690 status_errors=0 connect=0 read=2 write=0 timeout=0\n"
	v := wrkResult(out)
	for k, want := range map[string]float64{"requests": 5000, "duration_us": 2e6, "p50_us": 4100, "p99_us": 11690, "read": 2} {
		if v[k] != want {
			t.Errorf("%s = %v, want %v", k, v[k], want)
		}
	}
	if len(wrkResult("Requests/sec: 2500\n")) != 0 {
		t.Error("wrk's human output was read as a result")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{0.97, 0.91, 1.01}, 0.97}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBenchLimitsPassAndMiss(t *testing.T) {
	out := "BenchmarkSessionCheckRepeat-2   \t 9442700\t       120.0 ns/op\t       0 B/op\t       0 allocs/op\n" +
		"BenchmarkSessionCheckFirstSeen-2\t  241635\t      9701 ns/op\t    2672 B/op\t      31 allocs/op\n"
	r := newReport()
	checkBenchLimits(r, out)
	got := r.buf.String()
	for _, want := range []string{
		"PASS    repeat-request session check ≤ 1 µs/op and ≤ 2 allocs/op: 120.0 ns/op, 0 allocs/op",
		"MISSED  first-seen cookie ≤ 8 µs/op: 9701 ns/op, 31 allocs/op",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	r = newReport()
	checkBenchLimits(r, "PASS\n")
	if strings.Count(r.buf.String(), "MISSED") != len(benchLimits) {
		t.Errorf("missing benchmarks not reported as MISSED:\n%s", r.buf.String())
	}
}

func TestEveryLabelNamesOneTarget(t *testing.T) {
	byLabel := map[string]target{}
	for _, c := range comparisons {
		for _, tg := range []target{c.base, c.test} {
			if prev, ok := byLabel[tg.label]; ok && prev != tg {
				t.Errorf("label %q names two different targets", tg.label)
			}
			byLabel[tg.label] = tg
			if len([]rune(tg.label)) > 10 || tg.about == "" {
				t.Errorf("target %q: label over 10 characters, or no about", tg.label)
			}
		}
	}
}

func TestPairsPoolCPUOverRequests(t *testing.T) {
	ps := []pairSample{
		{base: sample{front: 100, requests: 1000}, test: sample{front: 110, requests: 1000}},
		{base: sample{front: 200, requests: 3000}, test: sample{front: 200, requests: 1000}},
		{base: sample{front: 100, requests: 1000}, test: sample{front: 105, requests: 2000}},
	}
	s := summarizePairs(ps)
	// pooled: test (110·1000 + 200·1000 + 105·2000) / 4000 = 130;
	// base (100·1000 + 200·3000 + 100·1000) / 5000 = 160.
	if s.n != 3 || s.median != 1.05 || s.min != 1 || s.max != 1.1 || s.pooled != 130.0/160.0 {
		t.Errorf("summarizePairs = %+v", s)
	}
	if summarizePairs(nil).n != 0 {
		t.Error("no pairs summarized as some")
	}
}

func TestCompareSelectsComparisonsAndALoginTarget(t *testing.T) {
	cs, err := selectComparisons([]string{"prot+redis", "fwdauth"})
	if err != nil || len(cs) != 2 || cs[0].test.label != "prot+redis" || cs[1].test.label != "fwdauth" {
		t.Fatalf("COMPARE=prot+redis,fwdauth gave %d comparisons, %v", len(cs), err)
	}
	// Without the plain protected target, the login goes through another
	// Caddy B at its root (fwdauth's path is an endpoint, not a page).
	via := loginTarget([]target{plain, cs[1].test, cs[0].test})
	if via.caddyfile != protected.caddyfile || via.path != "/" {
		t.Errorf("login through %+v, want a Caddy B at /", via)
	}
	if _, err := selectComparisons([]string{"prot", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown label: %v, want an error naming it", err)
	}
}
