package build

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// pkgDocs holds what the generator reads from one Go package's source: the
// doc comment of every type and of every struct field, and the string
// constants declared with each named type (its enum values).
type pkgDocs struct {
	types  map[string]string            // type name → doc
	fields map[string]map[string]string // type name → Go field name → doc
	consts map[string][]string          // type name → values of its typed constants
}

// parseDocs parses the non-test Go files of dir.
func parseDocs(dir string) (*pkgDocs, error) {
	d := &pkgDocs{types: map[string]string{}, fields: map[string]map[string]string{}, consts: map[string][]string{}}
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	sort.Strings(names)
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			switch gd.Tok {
			case token.TYPE:
				d.addTypes(gd)
			case token.CONST:
				d.addConsts(gd)
			}
		}
	}
	return d, nil
}

// addTypes records the docs of a type declaration and its struct fields.
func (d *pkgDocs) addTypes(gd *ast.GenDecl) {
	for _, s := range gd.Specs {
		ts := s.(*ast.TypeSpec)
		doc := ts.Doc
		if doc == nil && len(gd.Specs) == 1 {
			doc = gd.Doc
		}
		d.types[ts.Name.Name] = doc.Text()
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			continue
		}
		fields := map[string]string{}
		for _, f := range st.Fields.List {
			text := f.Doc.Text()
			if text == "" {
				text = f.Comment.Text()
			}
			if len(f.Names) == 0 { // embedded: named by its type
				fields[embeddedName(f.Type)] = text
			}
			for _, n := range f.Names {
				fields[n.Name] = text
			}
		}
		d.fields[ts.Name.Name] = fields
	}
}

// embeddedName is the field name Go gives an embedded type.
func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// addConsts records string constants declared with an explicit named type.
func (d *pkgDocs) addConsts(gd *ast.GenDecl) {
	for _, s := range gd.Specs {
		vs := s.(*ast.ValueSpec)
		id, ok := vs.Type.(*ast.Ident)
		if !ok {
			continue
		}
		for _, v := range vs.Values {
			lit, ok := v.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			if val, err := strconv.Unquote(lit.Value); err == nil {
				d.consts[id.Name] = append(d.consts[id.Name], val)
			}
		}
	}
}

// typeDoc is the doc of a Go type, "" if d is nil or has none.
func (d *pkgDocs) typeDoc(t reflect.Type) string {
	if d == nil {
		return ""
	}
	return d.types[t.Name()]
}

// fieldDoc is the doc of a struct field, "" if d is nil or has none.
func (d *pkgDocs) fieldDoc(t reflect.Type, field string) string {
	if d == nil {
		return ""
	}
	return d.fields[t.Name()][field]
}

// description turns a doc comment into a schema description as
// kube-openapi's generator does: marker lines ("+optional") and anything
// after a "---" line are dropped, and lines are joined with spaces within a
// paragraph.
func description(doc string) string {
	var paras []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line == "---" {
			break
		}
		if strings.HasPrefix(line, "+") || strings.HasPrefix(line, "TODO") {
			continue
		}
		if line == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return strings.Join(paras, "\n\n")
}

// markers returns the values of one "+name=value" marker in a doc, in order.
func markers(doc, name string) []string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "+"+name+"="); ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// hasMarker says whether a doc carries a "+name" marker (with or without a value).
func hasMarker(doc, name string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line == "+"+name || strings.HasPrefix(line, "+"+name+"=") {
			return true
		}
	}
	return false
}
