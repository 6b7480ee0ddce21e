package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// config is the environment of one run; main.go's doc comment lists it.
type config struct {
	duration, warmup                  time.Duration // whole seconds
	conns, threads, rounds, loginLoad int
	pairs                             int // PAIRS: simultaneous rounds (together.go); 0 for none
	skipGo                            bool
	caddy, results, goCmd             string
	profileDir                        string   // PROFILE: where CPU profiles of the front Caddys go; "" for none
	compare                           []string // COMPARE: the test labels of the comparisons to run; nil for all
	wrkCPUs, serverCPUs               string   // taskset CPU lists; "" means not pinned
}

func configFromEnv() (config, error) {
	c := config{
		caddy:   env("CADDY", "./caddy"),
		results: env("RESULTS", "bench/results.txt"),
		goCmd:   env("GO", "go"),
		skipGo:  env("SKIP_GO", "0") == "1",
		// An extra run per front target after the measured rounds, not counted.
		profileDir: os.Getenv("PROFILE"),
	}
	var errs []error
	seconds := func(name, def string, min time.Duration) time.Duration {
		v := env(name, def)
		if _, err := strconv.Atoi(v); err == nil {
			v += "s" // a bare number is seconds, as wrk reads it
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s=%s: want whole seconds such as 10s or 1m", name, v))
		}
		return d
	}
	integer := func(name, def string) int {
		n, err := strconv.Atoi(env(name, def))
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s=%s: want a positive integer", name, env(name, def)))
		}
		return n
	}
	c.duration = seconds("DURATION", "10s", time.Second)
	c.warmup = seconds("WARMUP", "3s", 0)
	c.conns, c.threads = integer("CONNS", "32"), integer("THREADS", "2")
	c.rounds, c.loginLoad = integer("ROUNDS", "5"), integer("LOGIN_LOAD", "1000")
	if c.pairs = c.rounds; os.Getenv("PAIRS") != "" {
		if n, err := strconv.Atoi(os.Getenv("PAIRS")); err == nil && n >= 0 {
			c.pairs = n
		} else {
			errs = append(errs, fmt.Errorf("PAIRS=%s: want 0 or a positive integer", os.Getenv("PAIRS")))
		}
	}
	if c.conns < c.threads {
		errs = append(errs, fmt.Errorf("CONNS (%d) must be ≥ THREADS (%d) for wrk", c.conns, c.threads))
	}
	if v := os.Getenv("COMPARE"); v != "" {
		c.compare = strings.Split(v, ",")
		if _, err := selectComparisons(c.compare); err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	c.wrkCPUs, c.serverCPUs, err = pinning(env("PIN", "auto"))
	return c, errors.Join(append(errs, err)...)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// pinning reads PIN (bench/README.md, CPU pinning). auto, on two or more
// CPUs: wrk on the last CPU and the servers on every CPU, so each Caddy runs
// with GOMAXPROCS = the machine's CPUs, as a user's does. split: wrk on the
// last CPU, every server on the others (GOMAXPROCS 1 on two CPUs: make bench's
// setting before issue 30).
func pinning(pin string) (wrkCPUs, serverCPUs string, err error) {
	n := runtime.NumCPU()
	_, tasksetErr := exec.LookPath("taskset")
	switch {
	case pin == "off" || pin == "0" || pin == "no":
		return "", "", nil
	case (pin == "auto" || pin == "split") && (n < 2 || tasksetErr != nil):
		return "", "", nil
	case pin == "auto":
		return strconv.Itoa(n - 1), "", nil
	case pin == "split" && n == 2:
		return "1", "0", nil
	case pin == "split":
		return strconv.Itoa(n - 1), fmt.Sprintf("0-%d", n-2), nil
	case strings.Count(pin, ":") == 1 && tasksetErr == nil:
		w, s, _ := strings.Cut(pin, ":")
		return w, s, nil
	case strings.Count(pin, ":") == 1:
		return "", "", fmt.Errorf("PIN=%s needs taskset (Debian package util-linux)", pin)
	}
	return "", "", fmt.Errorf("PIN=%s: want auto, split, off or WRK_CPUS:SERVER_CPUS such as 1:0", pin)
}

// pinned prefixes a command with taskset when cpus is set.
func pinned(cpus string, name string, args ...string) []string {
	if cpus == "" {
		return append([]string{name}, args...)
	}
	return append([]string{"taskset", "-c", cpus, name}, args...)
}

// ensureTools installs wrk (and redis-server when a target uses the store)
// from Debian when missing, and builds ./caddy when missing.
func ensureTools(ctx context.Context, cfg config, targets []target) error {
	need := map[string]string{"wrk": "wrk"} // command → Debian package
	for _, t := range targets {
		if t.store == "redis" {
			need["redis-server"] = "redis-server"
		}
	}
	for cmd, pkg := range need {
		if _, err := exec.LookPath(cmd); err == nil {
			continue
		}
		logf("%s is missing: installing the Debian package %s (apt-get install -y %s)", cmd, pkg, pkg)
		if err := aptInstall(ctx, pkg); err != nil {
			return fmt.Errorf("%s is needed and could not be installed: %w; install it yourself (apt-get install %s)", cmd, err, pkg)
		}
	}
	if _, err := os.Stat(cfg.caddy); err != nil {
		logf("%s missing: building it", cfg.caddy)
		if out, err := exec.CommandContext(ctx, cfg.goCmd, "build", "-trimpath", "-o", cfg.caddy, "./cmd/caddy").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/caddy: %w\n%s", err, out)
		}
	}
	out, err := exec.CommandContext(ctx, cfg.caddy, "list-modules").Output()
	if err != nil || !strings.Contains(string(out), "\nhttp.handlers.wechat_auth\n") {
		return fmt.Errorf("%s has no http.handlers.wechat_auth module (%v): run make build", cfg.caddy, err)
	}
	return nil
}

// aptInstall runs apt-get install, with apt-get update first only when the
// install fails without it. It needs root or password-less sudo.
func aptInstall(ctx context.Context, pkg string) error {
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo", "-n"}
	}
	apt := func(args ...string) error {
		argv := append(append(prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"), args...)
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", args[0], err, tail(string(out), 10))
		}
		return nil
	}
	if apt("install", "-y", "-q", pkg) == nil {
		return nil
	}
	if err := apt("update", "-q"); err != nil {
		return err
	}
	return apt("install", "-y", "-q", pkg)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// selectComparisons keeps the comparisons whose test target is one of labels
// (COMPARE=prot,fwdauth): a shorter run measuring one thing, e.g. the pairs
// of one comparison on a busy machine.
func selectComparisons(labels []string) ([]comparison, error) {
	var kept []comparison
	for _, l := range labels {
		found := false
		for _, c := range comparisons {
			if c.test.label == l {
				kept, found = append(kept, c), true
			}
		}
		if !found {
			var known []string
			for _, c := range comparisons {
				known = append(known, c.test.label)
			}
			return nil, fmt.Errorf("COMPARE=%s: %q is no comparison's test target (%s)", strings.Join(labels, ","), l, strings.Join(known, ", "))
		}
	}
	return kept, nil
}
