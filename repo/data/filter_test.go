package data_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/immich-vault/immich-vault/repo/data"
)

func TestFilterMatch(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		// Base-name globs.
		{"*.jpg", "/photos/2020/x.jpg", true},
		{"*.jpg", "/x.jpg", true},
		{"*.jpg", "/photos/x.jpeg", false},
		{"*.jpg", "/photos/x.jpg/inside", false}, // the directory itself matches; see below
		{"foo", "/a/foo", true},
		{"foo", "/a/foobar", false},
		{"foo", "/foo/bar", false},
		{"?.txt", "/a/b.txt", true},
		{"?.txt", "/a/bb.txt", false},
		{"[ab].txt", "/x/a.txt", true},
		{"[ab].txt", "/x/c.txt", false},
		{"[^a].txt", "/x/c.txt", true}, // Go path.Match negation syntax
		{"[^a].txt", "/x/a.txt", false},
		{".*", "/home/u/.cache", true},
		{"*", "/anything/at/all", true},
		// ** alone matches everything.
		{"**", "/a/b/c", true},
		// Full-path patterns: component-wise, a match of a prefix covers
		// everything below (excluding a directory excludes its contents).
		{"/home/*/cache", "/home/u/cache", true},
		{"/home/*/cache", "/home/u/cache/f/g", true},
		{"/home/*/cache", "/home/u/v/cache", false},
		{"/home/*/cache", "/home/cache", false},
		{"/home/*/cache", "/home/u/cachex", false},
		{"/a", "/a", true},
		{"/a", "/a/b", true},
		{"/a", "/ab", false},
		{"/a", "/b/a", false},
		{"/a/", "/a/b", true}, // trailing slash ignored
		// ** spans zero or more components.
		{"/a/**/z", "/a/z", true},
		{"/a/**/z", "/a/b/c/z", true},
		{"/a/**/z", "/a/b/z/q", true},
		{"/a/**/z", "/b/z", false},
		{"/a/**", "/a/b", true},
		{"/**/*.tmp", "/x/y/z.tmp", true},
		// Relative patterns with / float: an implied leading **/.
		{"cache/*.tmp", "/x/cache/a.tmp", true},
		{"cache/*.tmp", "/cache/a.tmp", true},
		{"cache/*.tmp", "/x/cache/sub/a.tmp", false},
		{"cache/*.tmp", "/x/cachex/a.tmp", false},
		{"library/thumbs", "/data/immich/library/thumbs/ab/cd.jpg", true},
		{"**/node_modules", "/src/app/node_modules/x/y.js", true},
		// * does not cross components in full-path patterns.
		{"/a/*", "/a/b/c", true}, // prefix /a/b matches
		{"/a/*/c", "/a/b/x/c", false},
	}
	for _, c := range cases {
		f, err := data.NewFilter([]string{c.pattern})
		if err != nil {
			t.Fatalf("NewFilter(%q): %v", c.pattern, err)
		}
		if got := f.Match(c.path); got != c.want {
			t.Errorf("pattern %q, path %q: Match = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestFilterSeveralPatternsAndEmpty(t *testing.T) {
	f, err := data.NewFilter([]string{"  ", "*.tmp", "", "/var/cache"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Empty() {
		t.Fatal("filter with patterns reports Empty")
	}
	for p, want := range map[string]bool{"/a/b.tmp": true, "/var/cache/x": true, "/var/log/x": false} {
		if f.Match(p) != want {
			t.Errorf("Match(%q) = %v, want %v", p, !want, want)
		}
	}
	var nilFilter *data.Filter
	if !nilFilter.Empty() || nilFilter.Match("/x") {
		t.Error("nil filter must be empty and match nothing")
	}
	blank, err := data.NewFilter([]string{" ", ""})
	if err != nil || !blank.Empty() || blank.Match("/x") {
		t.Errorf("blank patterns: empty=%v err=%v", blank.Empty(), err)
	}
}

func TestFilterBadPattern(t *testing.T) {
	for _, p := range []string{"[", "a[b", "/x/[z-"} {
		if _, err := data.NewFilter([]string{p}); err == nil {
			t.Errorf("NewFilter(%q) accepted a malformed pattern", p)
		}
	}
}

func TestReadPatternFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "excludes")
	if err := os.WriteFile(p, []byte("# comment\n*.tmp\n\n  /var/cache  \n\t# indented comment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := data.ReadPatternFile(p)
	if err != nil || !slices.Equal(got, []string{"*.tmp", "/var/cache"}) {
		t.Fatalf("ReadPatternFile = %q, %v", got, err)
	}
	if _, err := data.ReadPatternFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("ReadPatternFile of a missing file succeeded")
	}
}
