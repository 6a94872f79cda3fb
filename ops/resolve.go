package ops

import (
	"context"

	"github.com/palantir-lab/palantir/store"
)

// ResolveIDs turns ids or unique prefixes (at least four characters) into
// mission ids, in the order given. The first that matches no mission, or
// several, stops it with the store's error (store.ErrNotFound or
// store.ErrAmbiguous).
func ResolveIDs(ctx context.Context, st *store.Store, args []string) ([]string, error) {
	ids := make([]string, 0, len(args))
	for _, arg := range args {
		id, err := st.Resolve(ctx, arg)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
