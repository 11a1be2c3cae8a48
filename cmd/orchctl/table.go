package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Layout of tables, as kubectl prints them.
const (
	tablePadding = 3
	none         = "<none>"
)

// table is rows of cells under headers.
type table struct {
	headers []string
	rows    [][]string
}

// writeTable prints t aligned with text/tabwriter.
func writeTable(w io.Writer, t *table, noHeaders bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, tablePadding, ' ', 0)
	if !noHeaders {
		fmt.Fprintln(tw, strings.Join(t.headers, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// streamTable prints a table a few rows at a time (for get --watch), with
// the column widths text/tabwriter would give, remembered across calls so
// later rows line up with the first ones. A column widens when a longer cell
// comes.
type streamTable struct {
	w          io.Writer
	noHeaders  bool
	widths     []int
	headerDone bool
}

// print adds rows; the header is printed with the first rows.
func (s *streamTable) print(headers []string, rows [][]string) error {
	s.fit(headers)
	for _, r := range rows {
		s.fit(r)
	}
	var b strings.Builder
	if !s.headerDone && !s.noHeaders {
		s.line(&b, headers)
	}
	s.headerDone = true
	for _, r := range rows {
		s.line(&b, r)
	}
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func (s *streamTable) fit(cells []string) {
	for i, c := range cells {
		if i >= len(s.widths) {
			s.widths = append(s.widths, 0)
		}
		s.widths[i] = max(s.widths[i], utf8.RuneCountInString(c)+tablePadding)
	}
}

func (s *streamTable) line(b *strings.Builder, cells []string) {
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", s.widths[i]-utf8.RuneCountInString(c)))
		}
	}
	b.WriteString("\n")
}

// orNone is s, or "<none>" when it is empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
