package ops

import (
	"context"
	"time"

	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Cancel ends the missions of ids that have not ended (`palantir cancel`,
// POST /api/missions/{id}/cancel) and returns those it ended, in the
// order given; each gets a mission_failed event from source. Their
// messages stay where they are: the worker that takes one acknowledges it
// unrun, and a worker running one stops it within a heartbeat.
func Cancel(ctx context.Context, st *store.Store, tel *telemetry.Recorder, ids []string, source string, at time.Time) ([]string, error) {
	ended, err := st.Cancel(ctx, ids, at)
	if err != nil || len(ended) == 0 {
		return nil, err
	}
	ms, err := st.Missions(ctx, ended)
	if err != nil {
		return nil, err
	}
	done := make(map[string]bool, len(ms))
	for _, m := range ms {
		done[m.ID] = true
		tel.Emit(telemetry.Event{At: at, Name: telemetry.MissionFailed, MissionID: m.ID, Attempt: m.Attempt,
			Service: source, Detail: "cancelled by " + source}, time.Time{})
	}
	var inOrder []string
	for _, id := range ids {
		if done[id] {
			inOrder = append(inOrder, id)
			delete(done, id) // an id given twice is one mission
		}
	}
	return inOrder, nil
}
