package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

func TestDescribeMapLinesKeepsValuesWhole(t *testing.T) {
	var buf bytes.Buffer
	d := &descWriter{tw: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)}
	d.mapLines(0, "Annotations", map[string]string{
		"note":                "a,b=c",
		lastAppliedAnnotation: `{"kind":"Pod","metadata":{"name":"web"}}`,
	}, lastAppliedAnnotation)
	d.mapLines(0, "Labels", map[string]string{"tier": "web", "app": "x"})
	d.mapLines(0, "Selector", nil)
	d.tw.Flush()
	got := buf.String()
	for _, want := range []string{"Annotations:  note: a,b=c\n", "Labels:       app=x\n", "              tier=web\n", "Selector:     <none>\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "kind") {
		t.Errorf("the last-applied annotation was printed:\n%s", got)
	}
}
