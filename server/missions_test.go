package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/server"
)

// TestLaunchATypeTheConfigDefines: serve knows the config file's mission
// types: the API launches them, lists them in /api/info (the page's
// launch form offers them) and filters history by them.
func TestLaunchATypeTheConfigDefines(t *testing.T) {
	c := mission.Catalog{}
	if err := c.Define("heist", mission.Kind{BasePoints: 40, Stages: []mission.Stage{{Name: "grab the stone", Duration: 200 * time.Millisecond}}}); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, 1, func(cfg *server.Config) { cfg.Missions = c })
	code, body := r.do("POST", "/api/missions", `{"type": "heist", "speed": 10, "fail_rate": 0}`)
	if code != http.StatusCreated {
		t.Fatalf("POST heist: %d %s", code, body)
	}
	eventually(t, "the heist SUCCESS, 60 points", func() bool {
		_, body := r.do("GET", "/api/missions?type=heist", "")
		ms := decode[[]ops.Mission](t, body)
		return len(ms) == 1 && ms[0].Status == "SUCCESS" && ms[0].Score == 60
	})
	_, body = r.do("GET", "/api/info", "")
	info := decode[struct {
		Types []string `json:"types"`
	}](t, body)
	if !slices.Equal(info.Types, []string{"recon", "consult", "raven", "fellowship", "heist"}) {
		t.Errorf("/api/info types = %v, want the built-in ones and heist", info.Types)
	}
	if code, body := r.do("POST", "/api/missions", `{"type": "heits"}`); code != http.StatusBadRequest || !strings.Contains(body, "heist") {
		t.Errorf("POST heits: %d %s, want 400 suggesting heist", code, body)
	}
}
