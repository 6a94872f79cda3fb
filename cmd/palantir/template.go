package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
)

// --template, as in gh: the command's JSON document, read back as plain
// maps, lists, strings and numbers, goes through a Go text/template. Field
// names are the JSON ones ({{.id}}), so a template is written against
// what -o json shows.

// templateHelp is the flag's help and the list of its functions.
const templateHelp = "format JSON output with a Go `TEMPLATE` (e.g. '{{range .}}{{.id}} {{.status}}{{\"\\n\"}}{{end}}'); " +
	"functions: json, join SEP LIST, truncate N S, ago TIME, tablerow CELLS... ; implies -o json"

// parseTemplate parses text once, before the command does anything.
func parseTemplate(text string) (*template.Template, error) {
	// A field no object has is an error, not "<no value>" (a typo, or a
	// field --json left out).
	t, err := template.New("--template").Option("missingkey=error").Funcs(templateFuncs(nil, time.Now)).Parse(text)
	if err != nil {
		return nil, usageErr("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return t, nil
}

// templateFuncs are the functions a template may call; tablerow writes
// its cells to table (nil while parsing), ago counts from now.
func templateFuncs(table *tabwriter.Writer, now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join": func(sep string, list []any) string {
			parts := make([]string, len(list))
			for i, v := range list {
				parts[i] = cell(v)
			}
			return strings.Join(parts, sep)
		},
		"truncate": func(n int, s any) string {
			if n < 1 {
				return ""
			}
			return truncate(cell(s), n)
		},
		"ago": func(v any) string {
			s, _ := v.(string)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return "-"
			}
			if d := now().Sub(t).Round(time.Second); d < 0 {
				return "in " + (-d).String()
			} else {
				return d.String() + " ago"
			}
		},
		"tablerow": func(cells ...any) (string, error) {
			parts := make([]string, len(cells))
			for i, c := range cells {
				parts[i] = cell(c)
			}
			_, err := fmt.Fprintln(table, strings.Join(parts, "\t"))
			return "", err
		},
	}
}

// cell is a value as a template prints it: null (a time not reached yet)
// is empty, as in gh, not "<nil>".
func cell(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// checkTemplate runs the --template on a sample of what the command
// prints (discarding the output), so that a command that acts, launch,
// refuses a template that cannot run before it does anything.
func (a *app) checkTemplate(sample any) error {
	if a.template == nil {
		return nil
	}
	out := a.Out
	a.Out = io.Discard
	defer func() { a.Out = out }()
	return a.writeJSON(sample)
}

// writeTemplate prints v through the --template.
func (a *app) writeTemplate(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // 1234567 stays 1234567, not 1.234567e+06
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	var out bytes.Buffer
	table := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	t, err := a.template.Clone()
	if err != nil {
		return err
	}
	if err := t.Funcs(templateFuncs(table, a.now)).Execute(table, doc); err != nil {
		return usageErr("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if err := table.Flush(); err != nil {
		return err
	}
	_, err = io.Copy(a.Out, &out)
	return err
}
