package data

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// Filter matches paths against glob patterns: `*` and `?` and `[...]` within
// one path component, `**` across components. A pattern without a `/` is
// matched against the base name; one with a `/` against the whole absolute
// path (a leading `**/` is implied for relative patterns that contain `/`).
type Filter struct {
	patterns []string
}

// NewFilter validates patterns.
func NewFilter(patterns []string) (*Filter, error) {
	f := &Filter{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", p, err)
		}
		p = strings.TrimSuffix(p, "/")
		if strings.Contains(p, "/") && !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "**/") {
			p = "**/" + p
		}
		f.patterns = append(f.patterns, p)
	}
	return f, nil
}

// ReadPatternFile reads patterns, one per line; blank lines and lines
// starting with # are ignored.
func ReadPatternFile(name string) ([]string, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// Empty reports whether f has no patterns.
func (f *Filter) Empty() bool { return f == nil || len(f.patterns) == 0 }

// Match reports whether the absolute path p matches any pattern.
func (f *Filter) Match(p string) bool {
	if f == nil {
		return false
	}
	base := path.Base(p)
	for _, pat := range f.patterns {
		if !strings.Contains(pat, "/") {
			if globMatch(pat, base) {
				return true
			}
			continue
		}
		if matchComponents(strings.Split(strings.TrimPrefix(pat, "/"), "/"), strings.Split(strings.TrimPrefix(p, "/"), "/")) {
			return true
		}
	}
	return false
}

func globMatch(pat, name string) bool {
	if pat == "**" {
		return true
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// matchComponents matches pattern components (with "**" spanning zero or
// more components) against path components. A pattern matching a prefix of
// the path also matches (excluding a directory excludes its contents).
func matchComponents(pat, p []string) bool {
	if len(pat) == 0 {
		return true
	}
	if pat[0] == "**" {
		for i := 0; i <= len(p); i++ {
			if matchComponents(pat[1:], p[i:]) {
				return true
			}
		}
		return false
	}
	if len(p) == 0 || !globMatch(pat[0], p[0]) {
		return false
	}
	return matchComponents(pat[1:], p[1:])
}
