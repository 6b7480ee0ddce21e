package wechatauth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlowKindsAreDistinct: each flow's file defines its own kind, and the
// flow cookie routes a callback by it, so two flows of one kind would hand
// one's logins to the other.
func TestFlowKindsAreDistinct(t *testing.T) {
	// Read from the package's source rather than listed here, so a flow
	// added later is checked without anyone remembering this test.
	consts, kindMethods := flowKindsInSource(t)
	if len(consts) < 8 {
		t.Fatalf("found %d flowKind constants in the source, want the 8 flows' at least: %v", len(consts), consts)
	}
	seen := map[string]string{}
	for name, v := range consts {
		if other, dup := seen[v]; dup {
			t.Errorf("flows %s and %s share kind %s", name, other, v)
		}
		seen[v] = name
	}
	flows := []signInFlow{&mpFlow{}, &desktopFlow{}, &relayClientFlow{}, &relayedFlow{mpFlow: &mpFlow{}}, &componentFlow{}, &wecomFlow{}, &wecomFlow{desktop: true}}
	if len(kindMethods) != 6 { // wecomFlow's one method serves two kinds
		t.Errorf("the source has %d kind() methods %v: add the new flow to this test's list", len(kindMethods), kindMethods)
	}
	for _, fl := range flows {
		if fl.kind() == legacyFlowKind {
			t.Errorf("%T has the legacy kind", fl)
		}
	}
}

// flowKindsInSource returns every constant of type flowKind declared in the
// package's non-test files (name → literal value) and the receiver types
// that declare a kind() method.
func flowKindsInSource(t *testing.T) (map[string]string, []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var methods []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "flowKind" {
						continue
					}
					for i, n := range vs.Names {
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok {
							t.Fatalf("%s: flowKind %s is not a literal: write each kind as a number", name, n.Name)
						}
						consts[n.Name] = lit.Value
					}
				}
			case *ast.FuncDecl:
				if d.Recv != nil && d.Name.Name == "kind" {
					methods = append(methods, name)
				}
			}
		}
	}
	return consts, methods
}
