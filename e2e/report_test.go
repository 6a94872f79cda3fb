package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// The bench report, opened in Chromium at 1200×800, shows every column
// of its table and every label of its charts without clipping: at 980 px
// wide it hid the "lost" column off-screen and cut the labels.
func TestBenchReportFitsAt1200Pixels(t *testing.T) {
	browser := chromiumPath(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "bench.html")
	c := exec.Command(binary, "bench", "--backends", "inproc", "--missions", "300", "--store", "none", "--report", report)
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	p := openPage(t, browser, nil, "file://"+report, 1200, 800)
	var got struct {
		PageWidth, ViewWidth int
		LastHeader           string
		LastHeaderRight      float64
		Cut                  []string
	}
	raw := p.eval(`(() => {
		const ths = [...document.querySelectorAll('table th')];
		const last = ths[ths.length - 1];
		const cut = [];
		for (const svg of document.querySelectorAll('svg')) {
			const box = svg.getBoundingClientRect();
			for (const text of svg.querySelectorAll('text')) {
				const r = text.getBoundingClientRect();
				if (r.right > box.right + 1 || r.left < box.left - 1 || r.right > window.innerWidth) cut.push(text.textContent);
			}
		}
		return {PageWidth: document.documentElement.scrollWidth, ViewWidth: window.innerWidth,
			LastHeader: last.textContent, LastHeaderRight: last.getBoundingClientRect().right, Cut: cut};
	})()`)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	t.Logf("page %d px wide in a %d px window; last column %q ends at %.0f px", got.PageWidth, got.ViewWidth, got.LastHeader, got.LastHeaderRight)
	if got.PageWidth > got.ViewWidth {
		t.Errorf("the page is %d px wide in a %d px window: it scrolls sideways", got.PageWidth, got.ViewWidth)
	}
	if got.LastHeaderRight > float64(got.ViewWidth) {
		t.Errorf("the table's last column %q ends at %.0f px, off a %d px window", got.LastHeader, got.LastHeaderRight, got.ViewWidth)
	}
	if len(got.Cut) > 0 {
		t.Errorf("chart labels cut: %q", got.Cut)
	}
}
