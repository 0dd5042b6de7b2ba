package poller

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const pollerImport = "github.com/starling-ws/starling/poller"

// TestNewTestConnOnlyInTests walks the module and fails if a non-test Go
// file outside poller/ refers to poller.NewTestConn: production code must
// only get a Conn from an engine.
func TestNewTestConnOnlyInTests(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs(".")
	var bad []string
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path == self || path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		bad = append(bad, usesNewTestConn(t, path)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("walked only %d Go files under %s: wrong root?", files, root)
	}
	for _, b := range bad {
		t.Errorf("%s: production code uses poller.NewTestConn (tests only)", b)
	}
}

// usesNewTestConn returns the positions in path where the poller import is
// used to reach NewTestConn.
func usesNewTestConn(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	local := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == pollerImport {
			local = "poller"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	if local == "" {
		return nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == local && n.Sel.Name == "NewTestConn" {
				out = append(out, fset.Position(n.Pos()).String())
			}
		case *ast.Ident: // a dot import
			if local == "." && n.Name == "NewTestConn" {
				out = append(out, fset.Position(n.Pos()).String())
			}
		}
		return true
	})
	return out
}
