package server_test

import (
	"encoding/json"
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

// TestCancelThroughTheAPI: POST /api/missions/{id}/cancel ends a mission
// that has not ended (200, the mission object), answers 409 for one that
// has, 404 for an unknown id, and wants JSON like every state change.
func TestCancelThroughTheAPI(t *testing.T) {
	r := newRig(t, 0) // no worker: the mission stays queued
	code, body := r.do("POST", "/api/missions", `{"type": "recon"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/missions: %d %s", code, body)
	}
	id := decode[[]ops.Mission](t, body)[0].ID
	code, body = r.do("POST", "/api/missions/"+id[:5]+"/cancel", `{}`)
	if m := decode[ops.Mission](t, body); code != http.StatusOK || m.ID != id || m.Status != "FAILURE" || m.Error != "cancelled" {
		t.Fatalf("cancel: %d %s, want 200 and the mission FAILURE cancelled", code, body)
	}
	if code, body := r.do("POST", "/api/missions/"+id+"/cancel", `{}`); code != http.StatusConflict || !strings.Contains(body, "already ended") {
		t.Errorf("cancel again: %d %s, want 409 saying it had already ended", code, body)
	}
	for _, body := range []string{`{`, `not json`, `{"reason": "x"}`} {
		if code, _ := r.do("POST", "/api/missions/"+id+"/cancel", body); code != http.StatusBadRequest {
			t.Errorf("cancel with body %q: %d, want 400 like every other route", body, code)
		}
	}
	if code, _ := r.do("POST", "/api/missions/zzzzzzzz/cancel", `{}`); code != http.StatusNotFound {
		t.Errorf("cancel of an unknown id: %d, want 404", code)
	}
	req, _ := http.NewRequest("POST", r.http.URL+"/api/missions/"+id+"/cancel", strings.NewReader(""))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("cancel as text/plain: %v %v, want 415", resp.StatusCode, err)
	}
}

// TestUniqueLaunchThroughTheAPI: unique_for skips a second launch of the
// same type and hero within the window; the answer says how many were
// skipped.
func TestUniqueLaunchThroughTheAPI(t *testing.T) {
	r := newRig(t, 0)
	send := func(body string) (int, []ops.Mission, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", r.http.URL+"/api/missions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ms []ops.Mission
		_ = json.NewDecoder(resp.Body).Decode(&ms)
		return resp.StatusCode, ms, resp.Header.Get("X-Palantir-Skipped")
	}
	if code, ms, skipped := send(`{"type": "raven", "hero": "frodo", "unique_for": "1m"}`); code != 201 || len(ms) != 1 || skipped != "0" {
		t.Fatalf("first: %d, %d missions, skipped %q", code, len(ms), skipped)
	}
	if code, ms, skipped := send(`{"type": "raven", "hero": "frodo", "count": 2, "unique_for": "1m"}`); code != 201 || len(ms) != 0 || skipped != "2" {
		t.Errorf("second: %d, %d missions, skipped %q; want 201, none, 2", code, len(ms), skipped)
	}
	if code, body := r.do("POST", "/api/missions", `{"type": "raven", "unique_for": "soon"}`); code != 400 || !strings.Contains(body, "unique_for") {
		t.Errorf("unique_for soon: %d %s, want 400 naming unique_for", code, body)
	}
}
