// Package doccheck_test holds the module's doc comment check (issue 10): every exported
// name of the library's packages, exported struct fields and interface methods included,
// carries a doc comment, so that `go doc` says what each one is for. The library is every
// package but commands (package main), the test harnesses under test/ and test helper
// packages (named …test).
package doccheck_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is the directory of the module's go.mod, two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// TestEveryExportedNameHasADocComment fails for each exported function, method (of an
// exported type), type, constant, variable, struct field and interface method without a
// doc comment. A grouped declaration (const or var block) may be documented as a whole.
func TestEveryExportedNameHasADocComment(t *testing.T) {
	root := moduleRoot(t)
	var missing []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor" ||
				path == filepath.Join(root, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" || strings.HasSuffix(f.Name.Name, "test") {
			return nil
		}
		files++
		rel, _ := filepath.Rel(root, path)
		report := func(pos token.Pos, what string) {
			missing = append(missing, rel+":"+strconv.Itoa(fset.Position(pos).Line)+": "+what)
		}
		for _, decl := range f.Decls {
			checkDecl(fset, decl, report)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no Go files found: the walk is broken")
	}
	for _, m := range missing {
		t.Errorf("no doc comment: %s", m)
	}
}

func checkDecl(fset *token.FileSet, decl ast.Decl, report func(token.Pos, string)) {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() || d.Doc != nil {
			return
		}
		if d.Recv != nil {
			recv := receiverType(d.Recv.List[0].Type)
			if !ast.IsExported(recv) {
				return
			}
			report(d.Pos(), "method "+recv+"."+d.Name.Name)
			return
		}
		report(d.Pos(), "func "+d.Name.Name)
	case *ast.GenDecl:
		grouped := d.Lparen.IsValid() && d.Doc != nil
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if !s.Name.IsExported() {
					continue
				}
				if s.Doc == nil && d.Doc == nil {
					report(s.Pos(), "type "+s.Name.Name)
				}
				checkTypeBody(fset, s.Name.Name, s.Type, s.Doc != nil || d.Doc != nil, report)
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() && s.Doc == nil && s.Comment == nil && !grouped && d.Doc == nil {
						report(n.Pos(), d.Tok.String()+" "+n.Name)
					}
				}
			}
		}
	}
}

// checkTypeBody reports the undocumented exported fields of a struct type and methods of
// an interface type (a doc comment covers the fields on the lines right below it); the one method of a documented one-method interface (an Observer's
// Observe) is documented by the type's comment.
func checkTypeBody(fset *token.FileSet, typeName string, t ast.Expr, documented bool, report func(token.Pos, string)) {
	var fields *ast.FieldList
	kind := "field"
	switch tt := t.(type) {
	case *ast.StructType:
		fields = tt.Fields
	case *ast.InterfaceType:
		fields, kind = tt.Methods, "interface method"
		if documented && len(fields.List) == 1 {
			return
		}
	default:
		return
	}
	prevEnd := -1 // last line of the previous documented field of a run, or -1
	for _, f := range fields.List {
		line := fset.Position(f.Pos()).Line
		// A doc comment may document a run of fields written on consecutive lines
		// ("// Subject, ClientID and Resources identify the grant.").
		if f.Doc != nil || f.Comment != nil || line == prevEnd+1 {
			prevEnd = fset.Position(f.End()).Line
			continue
		}
		prevEnd = -1
		for _, n := range f.Names {
			if n.IsExported() {
				report(n.Pos(), kind+" "+typeName+"."+n.Name)
			}
		}
		if len(f.Names) == 0 { // embedded
			if name := receiverType(f.Type); ast.IsExported(name) && kind == "field" {
				report(f.Pos(), "embedded field "+typeName+"."+name)
			}
		}
	}
}

// receiverType is the name of a (possibly pointer, generic or qualified) type expression.
func receiverType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.IndexListExpr:
		return receiverType(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}
