package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

// writeJSON prints v as one JSON document: indented, or on one line when
// the command streams (JSON Lines).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSON prints v as the command's JSON document, with only the
// fields --json names when it names some.
func (a *app) writeJSON(v any) error {
	if len(a.jsonFields) > 0 {
		var err error
		if v, err = a.onlyFields(v); err != nil {
			return err
		}
	}
	switch {
	case a.template != nil:
		return a.writeTemplate(v)
	case a.compactJSON:
		return json.NewEncoder(a.Out).Encode(v)
	}
	return writeJSON(a.Out, v)
}

// onlyFields is v (an object or an array of objects) with only the
// fields of --json; a field an object lacks is a usage error that lists
// the ones it has.
func (a *app) onlyFields(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	switch g := generic.(type) {
	case map[string]any:
		return a.pickFields(g)
	case []any:
		for i, e := range g {
			if o, ok := e.(map[string]any); ok {
				if g[i], err = a.pickFields(o); err != nil {
					return nil, err
				}
			}
		}
		return g, nil
	}
	return generic, nil
}

func (a *app) pickFields(o map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(a.jsonFields))
	for _, f := range a.jsonFields {
		val, ok := o[f]
		if !ok {
			return nil, usageErr("--json: no field %q here (fields: %s)", f, strings.Join(slices.Sorted(maps.Keys(o)), ","))
		}
		out[f] = val
	}
	return out, nil
}

// jsonOutput is the output format when --json FIELDS is given: json, as
// long as -o did not ask for another; fields gets the list.
func jsonOutput(output string, chosen bool, list string, fields *[]string) (string, error) {
	if chosen && output != "json" && list == templateOnly {
		return "", usageErr("--template formats JSON: it goes with -o json, not -o %s", output)
	}
	if chosen && output != "json" {
		return "", usageErr("--json prints JSON: it goes with -o json, not -o %s", output)
	}
	if list == templateOnly {
		return "json", nil
	}
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*fields = append(*fields, f)
		}
	}
	if len(*fields) == 0 {
		return "", usageErr("--json needs FIELDS, e.g. --json id,status")
	}
	return "json", nil
}

// templateOnly stands for --json's list when only --template is given.
const templateOnly = "\x00template"

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(anySlice(header)...)
	}
	return t
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func missionTable(w io.Writer, ms []store.Mission) error {
	t := newTable(w, "ID", "TYPE", "HERO", paintState(w, "STATUS"), "PROGRESS", "ATTEMPT", "WORKER", "SCORE", "TOTAL TIME", "ERROR")
	for _, m := range ms {
		t.row(m.ID, m.Type, m.Hero, paintState(w, string(m.Status)), fmt.Sprintf("%d%%", m.Progress), fmt.Sprintf("%d/%d", m.Attempt, m.MaxAttempts),
			dash(m.Worker), m.Score, duration(m), dash(truncate(m.Error, 50)))
	}
	return t.flush()
}

func duration(m store.Mission) string {
	if m.StartedAt.IsZero() || m.FinishedAt.IsZero() {
		return "-"
	}
	return m.FinishedAt.Sub(m.CreatedAt).Round(10 * time.Millisecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string { return ops.Truncate(s, n) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("15:04:05.000")
}

func fmtAgo(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(100*time.Millisecond).String() + " ago"
}

// outputsAnnotation lists, on a command that prints more than table and
// json, the -o formats it accepts (for example "table,json,markdown").
const outputsAnnotation = "palantir/outputs"

// checkOutputFormat rejects an output format the configuration allows but
// cmd does not print (markdown, which only bench prints) as a usage error.
func checkOutputFormat(cmd *cobra.Command, format string) error {
	if format == "table" || format == "json" {
		return nil
	}
	if slices.Contains(strings.Split(cmd.Annotations[outputsAnnotation], ","), format) {
		return nil
	}
	return usageErr("-o %s is not supported by %s (table or json; markdown is for 'palantir bench')", format, cmd.Name())
}

// stateColours are the SGR colours of mission states in tables. Every
// code has the same length, and every cell of a STATUS column (its header
// too) is wrapped in one, so tabwriter, which counts bytes, keeps the
// columns after it aligned.
var stateColours = map[string]string{"SUCCESS": "32", "FAILURE": "31", "RETRY": "33", "STARTED": "36", "PROCESSING": "36"}

// colourful reports whether tables on w are coloured: on a terminal, or
// when CLICOLOR_FORCE asks (for less -R); never with NO_COLOR set
// (no-color.org) or TERM=dumb.
func colourful(w io.Writer) bool {
	switch {
	case os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb":
		return false
	case os.Getenv("CLICOLOR_FORCE") != "" && os.Getenv("CLICOLOR_FORCE") != "0":
		return true
	}
	return isTTY(w)
}

// paintState colours a STATUS cell (or its header) for w.
func paintState(w io.Writer, state string) string {
	if !colourful(w) {
		return state
	}
	c, ok := stateColours[state]
	if !ok {
		c = "39" // the default colour: the same width as the others
	}
	return "\x1b[" + c + "m" + state + "\x1b[0m"
}
