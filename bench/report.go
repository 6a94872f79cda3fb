package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Provenance is where and how a report was made: read later, elsewhere,
// its figures mean little without it.
type Provenance struct {
	Generated time.Time
	Host      string
	Cores     int
	Platform  string // GOOS/GOARCH
	Version   string // palantir's
	Command   string // the command line, passwords hidden
}

// WriteHTML writes a self-contained HTML page about results: a table,
// throughput bars (palantir against the bare-client ceiling, per backend)
// and the end-to-end latency CDF of each backend. Charts are inline SVG
// that scale to the page; the wide table scrolls inside it. The page
// loads nothing from anywhere.
func WriteHTML(w io.Writer, results []Result, p Provenance) error {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>palantir bench</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1400px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
.scroll{overflow-x:auto}svg{max-width:100%;height:auto}code{font-size:.9em;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.8em}th,td{padding:.3em .35em;border-bottom:1px solid #ddd;text-align:right}th{vertical-align:bottom}
th:first-child,td:first-child{text-align:left}td.err{color:#b00;text-align:left}
svg text{font-family:inherit;font-size:12px}.note{color:#555;font-size:.9em}
</style></head><body>
<h1>palantir bench</h1>
`)
	e := html.EscapeString
	fmt.Fprintf(&b, "<p class=\"note\">Generated %s on host %s (%d cores, %s) by palantir %s:<br><code>%s</code></p>\n",
		e(p.Generated.Format(time.RFC1123)), e(p.Host), p.Cores, e(p.Platform), e(p.Version), e(p.Command))
	b.WriteString("<p class=\"note\">Identical zero-duration missions through each backend's real path " +
		"(store, publish, worker, persist, ack), and the same number of messages through the bare client library " +
		"(the ceiling). Latencies from HDR histograms.</p>\n<div class=\"scroll\">")
	writeTable(&b, results)
	b.WriteString("</div>\n")
	b.WriteString("<h2>Throughput: palantir against the broker's ceiling</h2>\n")
	b.WriteString(throughputSVG(results))
	b.WriteString("<h2>End-to-end latency (CDF)</h2>\n<p class=\"note\">From each mission's intended send time to its acknowledgement after persistence; log scale.</p>\n")
	b.WriteString(cdfSVG(results))
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeTable(b *strings.Builder, rs []Result) {
	b.WriteString("<table><tr><th>backend</th><th>missions</th><th>conc. / prefetch</th><th>payload</th><th>rate</th><th>store</th>" +
		"<th>missions/s</th><th>ceiling/s</th><th>ratio</th><th>publish p50/p99 ms</th><th>queue wait p50/p99 ms</th>" +
		"<th>end-to-end p50/p95/p99/max ms</th><th>redeliv.</th><th>dup.</th><th>lost</th><th>CPU s</th><th>peak MB</th></tr>\n")
	for _, r := range rs {
		e := html.EscapeString
		if r.Error != "" && r.MissionsPerSec == 0 {
			fmt.Fprintf(b, "<tr><td>%s</td><td class=\"err\" colspan=\"16\">%s</td></tr>\n", e(Label(r, rs)), e(r.Error))
			continue
		}
		rate := "max"
		if r.Rate > 0 {
			rate = fmt.Sprintf("%g/s", r.Rate)
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td><td>%d / %d</td><td>%d B</td><td>%s</td><td>%s</td><td>%.0f</td><td>%.0f</td>"+
			"<td>%.2f</td><td>%.2f / %.2f</td><td>%.2f / %.2f</td><td>%.2f / %.2f / %.2f / %.2f</td><td>%d</td><td>%d</td>"+
			"<td>%d</td><td>%.2f</td><td>%.1f</td></tr>\n",
			e(Label(r, rs)), r.Missions, r.Concurrency, r.Prefetch, r.PayloadBytes, rate, e(r.Store), r.MissionsPerSec, r.CeilingMsgsPerSec,
			r.RatioToCeiling, r.PublishMS.P50, r.PublishMS.P99, r.QueueWaitMS.P50, r.QueueWaitMS.P99, r.EndToEndMS.P50,
			r.EndToEndMS.P95, r.EndToEndMS.P99, r.EndToEndMS.Max, r.Redeliveries, r.Duplicates, r.Lost, r.CPUSeconds, r.PeakMemoryMB)
		if r.Error != "" {
			fmt.Fprintf(b, "<tr><td></td><td class=\"err\" colspan=\"16\">%s</td></tr>\n", e(r.Error))
		}
	}
	b.WriteString("</table>\n")
}

// palette tells backends apart in the charts.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// logAxis maps values in [lo, hi] (powers of ten) to [0, 1].
type logAxis struct{ lo, hi float64 }

func newLogAxis(min, max float64) logAxis {
	min, max = math.Max(min, 1e-3), math.Max(max, 1e-3)
	lo := math.Pow(10, math.Floor(math.Log10(min)))
	hi := math.Pow(10, math.Ceil(math.Log10(max)))
	if hi <= lo {
		hi = lo * 10
	}
	return logAxis{lo, hi}
}

func (a logAxis) pos(v float64) float64 {
	v = math.Min(math.Max(v, a.lo), a.hi)
	return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
}

func (a logAxis) decades() []float64 {
	var ds []float64
	for d := a.lo; d <= a.hi*1.0001; d *= 10 {
		ds = append(ds, d)
	}
	return ds
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	case v >= 1:
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func throughputSVG(rs []Result) string {
	var ok []int // indices of the measured rows; colours follow the index
	lo, hi := math.Inf(1), 0.0
	for i, r := range rs {
		if r.MissionsPerSec <= 0 {
			continue
		}
		ok = append(ok, i)
		for _, v := range []float64{r.MissionsPerSec, r.CeilingMsgsPerSec} {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if len(ok) == 0 {
		return "<p>No backend was measured.</p>\n"
	}
	const left, width, barH, gap, top = 110.0, 600.0, 18.0, 16.0, 10.0
	ax := newLogAxis(lo, hi)
	height := top + float64(len(ok))*(2*barH+gap) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %[1].0f %[2].0f" role="img" aria-label="throughput per backend">`+"\n", left+width+260, height)
	axisY := height - 24
	for _, d := range ax.decades() {
		x := left + ax.pos(d)*width
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s/s</text>`+"\n",
			x, top-4, x, axisY, x, axisY+16, human(d))
	}
	for row, i := range ok {
		r := rs[i]
		y := top + float64(row)*(2*barH+gap)
		color := palette[i%len(palette)]
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-weight="bold">%s</text>`+"\n", left-8, y+barH+4, html.EscapeString(Label(r, rs)))
		bar := func(y, v float64, fill, label string) {
			wdt := ax.pos(v) * width
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+
				`<text x="%.1f" y="%.1f">%s</text>`+"\n", left, y, math.Max(wdt, 1), barH-2, fill, html.EscapeString(label),
				left+wdt+6, y+barH-5, html.EscapeString(label))
		}
		bar(y, r.MissionsPerSec, color, fmt.Sprintf("palantir %s/s", human(r.MissionsPerSec)))
		if r.CeilingMsgsPerSec > 0 {
			bar(y+barH, r.CeilingMsgsPerSec, "#bbb", fmt.Sprintf("ceiling %s/s (ratio %.2f)", human(r.CeilingMsgsPerSec), r.RatioToCeiling))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func cdfSVG(rs []Result) string {
	lo, hi := math.Inf(1), 0.0
	any := false
	for _, r := range rs {
		for _, p := range r.EndToEndCDF {
			if p.Ms > 0 {
				lo, hi = math.Min(lo, p.Ms), math.Max(hi, p.Ms)
				any = true
			}
		}
	}
	if !any {
		return "<p>No latencies were recorded.</p>\n"
	}
	const left, top, width, height = 60.0, 10.0, 700.0, 320.0
	ax := newLogAxis(lo, hi)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %[1].0f %[2].0f" role="img" aria-label="end-to-end latency CDF">`+"\n", left+width+260, top+height+40)
	for _, d := range ax.decades() {
		x := left + ax.pos(d)*width
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s ms</text>`+"\n",
			x, top, x, top+height, x, top+height+16, human(d))
	}
	for _, p := range []float64{0, 25, 50, 75, 90, 99, 100} {
		y := top + height*(1-p/100)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="end">%g%%</text>`+"\n",
			left, y, left+width, y, left-6, y+4, p)
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", left, top, width, height)
	n := 0
	for i, r := range rs {
		if len(r.EndToEndCDF) == 0 {
			continue
		}
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range r.EndToEndCDF {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+ax.pos(p.Ms)*width, top+height*(1-p.Percentile/100)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`+"\n",
			color, strings.Join(pts, " "), html.EscapeString(Label(r, rs)))
		ly := top + 14 + float64(n)*18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s (p99 %.2f ms)</text>`+"\n",
			left+width+10, ly, left+width+30, ly, color, left+width+36, ly+4, html.EscapeString(r.Backend), r.EndToEndMS.P99)
		n++
	}
	b.WriteString("</svg>\n")
	return b.String()
}
