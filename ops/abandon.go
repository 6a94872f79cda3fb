package ops

import (
	"context"
	"time"

	"github.com/palantir-lab/palantir/store"
)

// AbandonTimeout bounds how long Abandon waits for the store.
const AbandonTimeout = 10 * time.Second

// Abandon ends the missions of ids that are not final yet as FAILURE with
// reason, stamped at, and returns how many it ended. It is for missions
// whose queue lived in this process (inproc) when the process stops before
// they finish: a QUEUED row that nothing can ever run would mislead status
// and history. It runs even when ctx is cancelled, since an interrupt is
// the usual reason to call it, for at most AbandonTimeout.
func Abandon(ctx context.Context, st *store.Store, ids []string, reason string, at time.Time) (int64, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AbandonTimeout)
	defer cancel()
	return st.Abandon(actx, ids, reason, at)
}
