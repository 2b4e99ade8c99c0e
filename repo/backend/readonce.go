package backend

import "context"

type readOnceKey struct{}

// WithReadOnce marks the Loads made with the returned context as reading
// data that is read once and not again soon (a restore's data packs): a
// backend may then bypass its cache (the local backend reads such ranges
// with O_DIRECT on Linux instead of filling the page cache) and give fn a
// reader that lends its bytes (a NextBytes(n int) ([]byte, error) method)
// instead of copying them. Other reads (trees, dump, check) keep the
// cache and its readahead.
func WithReadOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnceKey{}, true)
}

// ReadOnce reports whether ctx was marked by WithReadOnce.
func ReadOnce(ctx context.Context) bool {
	v, _ := ctx.Value(readOnceKey{}).(bool)
	return v
}
