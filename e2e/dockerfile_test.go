//go:build linux

package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, USER …
	Args string
	Line int
}

func parseDockerfile(t *testing.T, file string) []dockerInstruction {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	// An exact version tag (golang:1.26.8-bookworm, alpine:3.22.1) or a digest.
	pinnedFrom  = regexp.MustCompile(`^[a-z0-9.\-/]+(:[0-9]+\.[0-9]+(\.[0-9]+)?[A-Za-z0-9.\-_]*)?(@sha256:[0-9a-f]{64})?$`)
	goDirective = regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`)
)

func TestDockerfileIsMultiStagePinnedStaticAndNonRoot(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := goDirective.FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}

	stages := map[string]bool{}
	var froms []dockerInstruction
	lastFrom := -1
	for i, in := range ins {
		if in.Cmd != "FROM" {
			continue
		}
		froms = append(froms, in)
		lastFrom = i
		fields := strings.Fields(in.Args)
		image := fields[0]
		for _, f := range fields {
			if strings.HasPrefix(f, "--platform") {
				image = fields[1]
			}
		}
		switch {
		case image == "scratch" || stages[image]:
		case strings.Contains(image, "${") || strings.Contains(image, "$"):
			t.Errorf("line %d: FROM %s: an ARG-chosen image is not pinned in the file", in.Line, image)
		case !pinnedFrom.MatchString(image) || (!strings.Contains(image, ":") && !strings.Contains(image, "@")):
			t.Errorf("line %d: FROM %s is not pinned to an exact version", in.Line, image)
		}
		if strings.HasPrefix(image, "golang:") && !strings.HasPrefix(image, "golang:"+string(goVersion[1])+".") {
			t.Errorf("line %d: FROM %s does not build with the Go go.mod asks for (%s)", in.Line, image, goVersion[1])
		}
		if len(fields) >= 3 && strings.EqualFold(fields[len(fields)-2], "AS") {
			stages[fields[len(fields)-1]] = true
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d FROM lines: want a build stage and a small final stage", len(froms))
	}

	static := false
	for _, in := range ins {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			static = strings.Contains(in.Args, "CGO_ENABLED=0")
		}
		if in.Cmd == "ENV" && strings.Contains(in.Args, "CGO_ENABLED=0") {
			static = true
		}
	}
	if !static {
		t.Error("go build without CGO_ENABLED=0: the binary would need libc")
	}

	user := ""
	for _, in := range ins[lastFrom:] {
		if in.Cmd == "USER" {
			user = in.Args
		}
		if in.Cmd == "RUN" {
			t.Errorf("line %d: RUN in the final stage: it needs a shell, which a small image has not", in.Line)
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if user == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER %q: want an unprivileged user", user)
	}
	hasEntry := false
	for _, in := range ins[lastFrom:] {
		hasEntry = hasEntry || in.Cmd == "ENTRYPOINT" || in.Cmd == "CMD"
	}
	if !hasEntry {
		t.Error("final stage has no ENTRYPOINT/CMD")
	}

	// Build-context sources named by COPY (not --from) exist.
	for _, in := range ins {
		if in.Cmd != "COPY" || strings.Contains(in.Args, "--from") {
			continue
		}
		fields := strings.Fields(in.Args)
		for _, src := range fields[:len(fields)-1] {
			if strings.HasPrefix(src, "--") {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("line %d: COPY %s: %v", in.Line, src, err)
			}
		}
	}
}

// dockerignored reports whether a repo-relative path is excluded by the
// patterns (the subset of .dockerignore syntax the file may use: globs, a
// leading / and a leading **/).
func dockerignored(patterns []string, rel string) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(p, "/")
		for cand := rel; cand != "." && cand != ""; cand = path.Dir(cand) {
			if matchIgnore(p, cand) {
				return true
			}
		}
	}
	return false
}

func matchIgnore(pattern, name string) bool {
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
		parts := strings.Split(name, "/")
		for i := range parts {
			if matchIgnore(rest, strings.Join(parts[i:], "/")) {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

func TestDockerignoreKeepsEverythingTheBuildNeedsAndDropsLocalBinaries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf(".dockerignore exception %q: extend this test before using them", l)
		}
		patterns = append(patterns, l)
	}
	for _, p := range []string{"caddy", ".git", "e2e/php_test.go"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/caddy/main.go", "plugin.go"} {
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore drops %s, which the build needs", p)
		}
	}
	// Every file of every package of this module that ./cmd/caddy builds from,
	// embedded files included.
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/caddy")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(repoRoot, f)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if dockerignored(patterns, filepath.ToSlash(rel)) {
			t.Errorf(".dockerignore drops %s, which go build ./cmd/caddy needs", rel)
		}
	}
	if n == 0 {
		t.Error("go list found no files of this module in ./cmd/caddy's build")
	}
}
