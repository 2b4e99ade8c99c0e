package s3_test

import (
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend/s3"
)

// FuzzParseLocation: never panics; an accepted location names a bucket and
// a prefix without leading/trailing slashes or dot segments.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"s3:http://127.0.0.1:9000/b/p", "s3:b", "s3:https://h/b/../x", "s3:http://[::1", "s3://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		cfg, err := s3.ParseLocation(loc)
		if err != nil {
			return
		}
		if cfg.Bucket == "" || strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/") ||
			strings.Contains("/"+cfg.Prefix+"/", "/../") || strings.Contains("/"+cfg.Prefix+"/", "/./") {
			t.Fatalf("%q: bucket %q prefix %q", loc, cfg.Bucket, cfg.Prefix)
		}
	})
}
