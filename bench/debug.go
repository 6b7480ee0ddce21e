package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The Caddys' admin endpoints (127.0.0.1, kernel-picked ports): the heap
// allocations each request costs the front and the upstream (/debug/vars: the Go runtime's count,
// exact whatever else runs on the machine) and, with PROFILE=DIR, a CPU
// profile of each front under load (/debug/pprof/profile).

var adminClient = &http.Client{Timeout: 90 * time.Second}

// mallocs is a Caddy's count of heap allocations so far, 0 for none (no
// process, or it does not answer).
func mallocs(ps []*proc) uint64 {
	if len(ps) == 0 || ps[0].admin == "" {
		return 0
	}
	p := ps[0]
	resp, err := adminClient.Get("http://" + p.admin + "/debug/vars")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct{ Mallocs uint64 }
	}
	if json.NewDecoder(resp.Body).Decode(&vars) != nil {
		return 0
	}
	return vars.Memstats.Mallocs
}

// profileAll profiles every target that has its own front Caddy.
func profileAll(ctx context.Context, cfg config, l *lab, targets []target, cookie string) ([]string, error) {
	if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, t := range targets {
		if t.path != "/" {
			continue // forward-auth shares prot's Caddy
		}
		logf("profiling %s (%v)", t.label, cfg.duration)
		file, err := profile(ctx, cfg, l, t, cookie)
		if err != nil {
			return nil, err
		}
		if file != "" {
			files = append(files, file)
		}
	}
	return files, nil
}

// profile loads t for cfg.duration with wrk (as a measured run, but not
// counted) while its Caddy records a CPU profile, written to dir/LABEL.pprof.
func profile(ctx context.Context, cfg config, l *lab, t target, cookie string) (string, error) {
	p := l.servers[serverKey(t)]
	if p.admin == "" {
		return "", nil
	}
	secs := max(int(cfg.duration.Seconds())-2, 1)
	file := filepath.Join(cfg.profileDir, t.label+".pprof")
	done := make(chan error, 1)
	go func() {
		if sleep(ctx, time.Second) != nil { // wrk's connections are up
			done <- ctx.Err()
			return
		}
		resp, err := adminClient.Get("http://" + p.admin + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s /debug/pprof/profile: %s", p.name, resp.Status)
			return
		}
		f, err := os.Create(file)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	args := append([]string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns),
		"-d", fmt.Sprintf("%ds", int(cfg.duration.Seconds())), "--timeout", "5s"}, wrkHeaders(cookie)...)
	argv := pinned(cfg.wrkCPUs, "wrk", append(args, l.url(t))...)
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("wrk on %s while profiling: %w\n%s", l.url(t), err, out)
	}
	if err := <-done; err != nil {
		return "", err
	}
	return file, nil
}
