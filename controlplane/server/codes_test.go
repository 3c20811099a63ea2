package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/api"
)

// Every error code a route's handler can answer — named in its body or in
// a function or Server method it calls, transitively — is documented for
// the route, so the OpenAPI document lists every status an operation
// returns. (Codes chosen at run time, like a plugin's per-image reason,
// are documented by hand: predictCodes.)
func TestRouteCodes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	var reach func(name string, seen map[string]bool, out map[api.Code]bool)
	reach = func(name string, seen map[string]bool, out map[api.Code]bool) {
		fd := funcs[name]
		if fd == nil || seen[name] {
			return
		}
		seen[name] = true
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "api" && strings.HasPrefix(n.Sel.Name, "Code") {
					if c, ok := codeByName[n.Sel.Name]; ok {
						out[c] = true
					}
				}
			case *ast.CallExpr:
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					reach(fn.Name, seen, out)
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "s" {
						reach(fn.Sel.Name, seen, out)
					}
				}
			}
			return true
		})
	}
	checked := 0
	for _, r := range (&Server{}).table() {
		if fd := funcs[handlerName(r)]; fd != nil {
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > 60 {
				t.Errorf("%s %s: handler %s is %d lines; the domain packages take the work, handlers stay ≤ 60", r.method, r.path, fd.Name.Name, n)
			}
		}
		name := handlerName(r)
		if funcs[name] == nil {
			t.Errorf("%s %s: handler %s not found in the source", r.method, r.path, name)
			continue
		}
		used := map[api.Code]bool{}
		reach(name, map[string]bool{}, used)
		documented := r.codes()
		for c := range used {
			if !slices.Contains(documented, c) {
				t.Errorf("%s %s: %s can answer %s (%d), which the route does not document", r.method, r.path, name, c, c.Status())
			}
		}
		checked++
	}
	if checked < 60 {
		t.Errorf("only %d routes checked", checked)
	}
}

// handlerName is the name of a route's handler (its last HandlerFunc): a
// Server method, or the method that made the closure.
func handlerName(r route) string {
	h := r.handlers[len(r.handlers)-1]
	name := runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name()
	name = name[strings.LastIndex(name, ")")+2:] // after "(*Server)."
	name, _, _ = strings.Cut(strings.TrimSuffix(name, "-fm"), ".")
	return name
}

// No file of the HTTP layer grows past 500 lines.
func TestServerFileSizes(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n > 500 {
			t.Errorf("%s is %d lines; move the application into a domain package", f, n)
		}
	}
}

// codeByName maps the api package's constant names to their codes.
var codeByName = func() map[string]api.Code {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, filepath.Join("..", "..", "protocol", "api", "errors.go"), nil, 0)
	if err != nil {
		panic(err)
	}
	out := map[string]api.Code{}
	for _, d := range af.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if bl, ok := vs.Values[i].(*ast.BasicLit); ok {
						out[n.Name] = api.Code(strings.Trim(bl.Value, `"`))
						continue
					}
				}
				for _, c := range api.Codes() { // Code(imagerules.X) constants: match by status table
					if strings.EqualFold("Code"+strings.ReplaceAll(string(c), "_", ""), n.Name) {
						out[n.Name] = c
					}
				}
			}
		}
	}
	return out
}()
