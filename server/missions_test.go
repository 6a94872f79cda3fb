package server_test

import (
	"context"
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

// TestLaterLaunchThroughTheAPI: in and at keep the missions PENDING in
// the store, unpublished, with their due_at; bad values are 400s naming
// the field.
func TestLaterLaunchThroughTheAPI(t *testing.T) {
	r := newRig(t, 1)
	before := time.Now()
	code, body := r.do("POST", "/api/missions", `{"type": "raven", "count": 2, "in": "1h"}`)
	var ms []ops.Mission
	if err := json.Unmarshal([]byte(body), &ms); code != 201 || err != nil || len(ms) != 2 {
		t.Fatalf("in 1h: %d %s", code, body)
	}
	for _, m := range ms {
		if m.Status != "PENDING" || m.DueAt == nil || m.DueAt.Before(before.Add(time.Hour)) || m.DueAt.After(time.Now().Add(time.Hour)) {
			t.Errorf("%s: %s due %v, want PENDING due in an hour", m.ID, m.Status, m.DueAt)
		}
	}
	first := ms
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	code, body = r.do("POST", "/api/missions", `{"type": "recon", "at": "`+at.Format(time.RFC3339)+`"}`)
	ms = nil
	if err := json.Unmarshal([]byte(body), &ms); code != 201 || err != nil || len(ms) != 1 || ms[0].DueAt == nil || !ms[0].DueAt.Equal(at) {
		t.Fatalf("at %s: %d %s", at, code, body)
	}
	time.Sleep(300 * time.Millisecond) // a worker runs: had they been published, it would have taken them
	ids := []string{ms[0].ID}
	for _, m := range first {
		ids = append(ids, m.ID)
	}
	stored, err := r.st.Missions(context.Background(), ids)
	if err != nil || len(stored) != 3 {
		t.Fatalf("store: %v (%d missions)", err, len(stored))
	}
	for _, m := range stored {
		if m.Status != "PENDING" {
			t.Errorf("%s is %s before it is due, want PENDING", m.ID, m.Status)
		}
	}
	code, body = r.do("GET", "/api/missions/"+ms[0].ID, "")
	if code != 200 || !strings.Contains(body, `"due_at":"`+at.Format(time.RFC3339)) {
		t.Errorf("GET the mission: %d %s, want its due_at", code, body)
	}
	for _, bad := range []struct{ body, field string }{
		{`{"type": "raven", "in": "soon"}`, "in"},
		{`{"type": "raven", "in": "-5s"}`, "in"},
		{`{"type": "raven", "in": "1000h"}`, "in"},
		{`{"type": "raven", "at": "18:00"}`, "at"},
		{`{"type": "raven", "at": "2001-01-01T00:00:00Z"}`, "at"},
		{`{"type": "raven", "in": "1m", "at": "` + at.Format(time.RFC3339) + `"}`, "not both"},
	} {
		if code, body := r.do("POST", "/api/missions", bad.body); code != 400 || !strings.Contains(body, bad.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", bad.body, code, body, bad.field)
		}
	}
}
