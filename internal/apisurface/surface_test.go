// Package apisurface holds the tests that keep the public surface
// documented: every exported identifier of the library packages has a doc
// comment and is shown in an example or the README; and the import rules
// of the architecture.
package apisurface

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// library are the public packages, relative to the module root.
var library = []string{".", "codec", "schema", "registry", "bridge", "worker", "caller", "once", "once/redisstore", "observability/prometheus", "observability/otel"}

const module = "github.com/rabibridge/rabibridge"

// exported is one exported identifier: a top-level name, a method of an
// exported type, or a method of an exported interface.
type exported struct {
	name string // Name, or Type.Method
	doc  bool
}

// surface returns the exported identifiers of the package in dir.
func surface(t *testing.T, dir string) []exported {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string][]*ast.File{} // by package name
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
		}
	}
	var out []exported
	for _, files := range pkgs {
		types := map[string]bool{}
		for _, f := range files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok {
					for _, s := range g.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() {
							types[ts.Name.Name] = true
						}
					}
				}
			}
		}
		for _, f := range files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() {
						continue
					}
					if d.Recv == nil {
						out = append(out, exported{d.Name.Name, d.Doc != nil})
					} else if recv := receiver(d.Recv.List[0].Type); types[recv] {
						out = append(out, exported{recv + "." + d.Name.Name, d.Doc != nil})
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						out = append(out, specNames(d, s)...)
					}
				}
			}
		}
	}
	return out
}

func receiver(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return receiver(e.X)
	case *ast.IndexExpr:
		return receiver(e.X)
	case *ast.IndexListExpr:
		return receiver(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// specNames returns the exported names s declares; a name is documented by
// its own comment or by its group's.
func specNames(g *ast.GenDecl, s ast.Spec) []exported {
	var out []exported
	switch s := s.(type) {
	case *ast.TypeSpec:
		if !s.Name.IsExported() {
			return nil
		}
		out = append(out, exported{s.Name.Name, s.Doc != nil || g.Doc != nil || s.Comment != nil})
		if it, ok := s.Type.(*ast.InterfaceType); ok {
			for _, m := range it.Methods.List {
				for _, n := range m.Names {
					if n.IsExported() {
						out = append(out, exported{s.Name.Name + "." + n.Name, m.Doc != nil || m.Comment != nil})
					}
				}
			}
		}
	case *ast.ValueSpec:
		for _, n := range s.Names {
			if n.IsExported() {
				out = append(out, exported{n.Name, s.Doc != nil || g.Doc != nil || s.Comment != nil})
			}
		}
	}
	return out
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSurface: every exported identifier is documented.
func TestSurface(t *testing.T) {
	base := root(t)
	total := 0
	for _, pkg := range library {
		names := surface(t, filepath.Join(base, pkg))
		total += len(names)
		for _, n := range names {
			if !n.doc {
				t.Errorf("%s.%s has no doc comment", pkg, n.name)
			}
		}
	}
	t.Logf("%d exported identifiers", total)
}

// TestShown: every exported identifier appears in an example or the README.
func TestShown(t *testing.T) {
	base := root(t)
	var text strings.Builder
	readme, err := os.ReadFile(filepath.Join(base, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text.Write(readme)
	err = filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), "example") && strings.HasSuffix(d.Name(), "_test.go") ||
			strings.Contains(path, string(filepath.Separator)+"examples"+string(filepath.Separator)) && strings.HasSuffix(path, ".go")) {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			text.Write(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	all := text.String()
	var missing []string
	for _, pkg := range library {
		for _, n := range surface(t, filepath.Join(base, pkg)) {
			name := n.name
			if i := strings.LastIndexByte(name, '.'); i >= 0 {
				name = name[i+1:]                                               // a method: shown as .Method
				if !regexp.MustCompile(`[._]` + name + `\b`).MatchString(all) { // .Method, or ExampleType_Method
					missing = append(missing, pkg+"."+n.name)
				}
				continue
			}
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(all) {
				missing = append(missing, pkg+"."+n.name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("not shown in any example or the README: %v", missing)
	}
}

// TestImports: among the library's packages only the transport imports
// amqp091-go (bridge reaches it through internal/transport); worker and
// caller do not import each other; only the Redis store links a Redis
// client.
func TestImports(t *testing.T) {
	t.Chdir(root(t))
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	amqpMay := map[string]bool{
		module + "/internal/transport":  true,
		module + "/internal/benchfloor": true, // the raw floor the benchmarks compare with
		module + "/cmd/rabibridge":      true,
		module + "/integration":         true,
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			switch {
			case strings.HasPrefix(imp, "github.com/rabbitmq/amqp091-go") && !amqpMay[pkg]:
				t.Errorf("%s imports %s", pkg, imp)
			case strings.HasPrefix(imp, "github.com/redis/") && pkg != module+"/once/redisstore" && pkg != module+"/internal/testkit/testredis":
				t.Errorf("%s imports %s", pkg, imp)
			case pkg == module+"/worker" && imp == module+"/caller", pkg == module+"/caller" && imp == module+"/worker":
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
	deps, err := exec.Command("go", "list", "-deps", "./worker", "./caller", "./registry", "./once").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, deps)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "github.com/redis/") {
			t.Errorf("worker, caller, registry or once links %s", d)
		}
	}
}

// TestNoInternalTypes: no exported declaration of the library names an
// internal package's type: not a signature, an exported field, a type
// definition or alias, nor a variable's declared type. go doc then shows a
// user every type they are given.
func TestNoInternalTypes(t *testing.T) {
	base := root(t)
	for _, pkg := range library {
		dir := filepath.Join(base, pkg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			internal := map[string]bool{} // the names under which internal packages are imported
			for _, imp := range f.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if !strings.Contains(path, "/internal/") {
					continue
				}
				n := path[strings.LastIndex(path, "/")+1:]
				if imp.Name != nil {
					n = imp.Name.Name
				}
				internal[n] = true
			}
			for _, where := range internalRefs(f, internal) {
				t.Errorf("%s/%s: %s", pkg, name, where)
			}
		}
	}
}

// internalRefs lists the exported declarations of f whose types name a
// package of internal.
func internalRefs(f *ast.File, internal map[string]bool) []string {
	var out []string
	check := func(what string, n ast.Node) {
		if n == nil {
			return
		}
		ast.Inspect(n, func(n ast.Node) bool {
			var fields *ast.FieldList // of a struct or an interface: only the exported show
			switch t := n.(type) {
			case *ast.StructType:
				fields = t.Fields
			case *ast.InterfaceType:
				fields = t.Methods
			}
			if fields != nil {
				for _, fl := range fields.List {
					exported := len(fl.Names) == 0 // embedded
					for _, id := range fl.Names {
						exported = exported || id.IsExported()
					}
					if exported {
						ast.Inspect(fl.Type, func(n ast.Node) bool { return visit(n, what, internal, &out) })
					}
				}
				return false
			}
			return visit(n, what, internal, &out)
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
				continue
			}
			check(d.Name.Name, d.Type)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						check(s.Name.Name, s.Type)
					}
				case *ast.ValueSpec:
					for _, id := range s.Names {
						if id.IsExported() {
							check(id.Name, s.Type)
						}
					}
				}
			}
		}
	}
	return out
}

func visit(n ast.Node, what string, internal map[string]bool, out *[]string) bool {
	if sel, ok := n.(*ast.SelectorExpr); ok {
		if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] {
			*out = append(*out, fmt.Sprintf("%s names %s.%s", what, id.Name, sel.Sel.Name))
		}
	}
	return true
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(recv *ast.FieldList) bool {
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
