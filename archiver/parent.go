package archiver

import (
	"context"
	"os"
	"strings"

	"github.com/immich-vault/immich-vault/repo"
)

// ParentQuery says which earlier snapshot a backup compares against.
type ParentQuery struct {
	// Host is the host the parent was made on ("": this machine's name,
	// as Backup records it).
	Host string
	// Tags must all be on the parent.
	Tags []string
	// SamePaths requires the parent to record exactly the paths a backup
	// of Paths and Streams records (absolute, clean, sorted). Without it,
	// any paths do (an Immich backup's paths change with its extra paths).
	SamePaths bool
	Paths     []string
	Streams   []Stream
}

// FindParent returns the newest snapshot matching q, or nil (and no
// error) when there is none. It is the one parent rule of the program:
// plain backups ask for the same host and paths, Immich backups for the
// same host and the Immich tag.
func FindParent(ctx context.Context, r *repo.Repository, q ParentQuery) (*repo.Snapshot, error) {
	host := q.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	var want string
	if q.SamePaths {
		_, paths, err := buildPathTrie(q.Paths, q.Streams)
		if err != nil {
			return nil, err
		}
		want = strings.Join(paths, "\x00")
	}
	snaps, err := r.Snapshots(ctx, func(repo.ID, error) {})
	if err != nil {
		return nil, err
	}
	f := repo.SnapshotFilter{Hosts: []string{host}, Tags: q.Tags}
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		if f.Match(s) && (!q.SamePaths || strings.Join(s.Paths, "\x00") == want) {
			return s, nil
		}
	}
	return nil, nil
}
