// Command tracecount reads the output of scripts/trace-requests.sh (dlv
// trace of TestTraceFourRequests) and reports, for each traced request,
// the files of this module its calls ran in and how often consecutive
// calls switched between files. It maps each traced function to the file
// that declares it by parsing the module's packages.
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

const module = "github.com/wxgate/caddy-wechat-auth/"

// call matches a dlv trace line of a call: "> goroutine(N): pkg.(*T).m(args…)".
var call = regexp.MustCompile(`^> goroutine\(\d+\): ([^ (]+(?:\(\*?[A-Za-z0-9_]+\))?\.?[A-Za-z0-9_]*)\(`)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tracecount <module root> <dlv trace output>")
		os.Exit(2)
	}
	files, err := declarations(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	var name string
	var seq []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "_test.traceMark(\""); i >= 0 {
			mark := strings.TrimSuffix(line[i+len("_test.traceMark(\""):], "\")")
			if mark == "end" {
				report(name, seq)
				name, seq = "", nil
			} else {
				name = mark
			}
			continue
		}
		m := call.FindStringSubmatch(line)
		if name == "" || m == nil || !strings.HasPrefix(m[1], module) || strings.Contains(m[1], "_test.") || strings.Contains(m[1], "/wechattest.") {
			continue
		}
		fn := strings.TrimPrefix(m[1], module)
		file, ok := files[fn]
		if !ok {
			continue // a closure or generated function: counted with its declaring function
		}
		seq = append(seq, file)
		if verbose {
			fmt.Printf("    %-40s %s\n", file, fn)
		}
	}
}

// verbose (TRACE_VERBOSE=1) lists every call with its file, to see which
// calls cross into which files.
var verbose = os.Getenv("TRACE_VERBOSE") != ""

func report(name string, seq []string) {
	set := map[string]bool{}
	switches := 0
	for i, f := range seq {
		set[f] = true
		if i > 0 && seq[i-1] != f {
			switches++
		}
	}
	list := make([]string, 0, len(set))
	for f := range set {
		list = append(list, f)
	}
	sort.Strings(list)
	fmt.Printf("%s: %d calls, %d files, %d switches\n  %s\n", name, len(seq), len(set), switches, strings.Join(list, " "))
}

// declarations maps "pkgpath.Func" and "pkgpath.(*T).Method" (as dlv
// prints them, relative to the module) to the declaring file.
func declarations(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			key := pkg + "." + fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				switch t := fd.Recv.List[0].Type.(type) {
				case *ast.StarExpr:
					key = pkg + ".(*" + typeName(t.X) + ")." + fd.Name.Name
				default:
					key = pkg + "." + typeName(t) + "." + fd.Name.Name
				}
			}
			out[key] = filepath.ToSlash(rel)
		}
		return nil
	})
	return out, err
}

func typeName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return typeName(t.X)
	}
	return "?"
}
