package corpus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// digest hashes every path, size, mtime and content under dir.
func digest(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00" + fi.ModTime().UTC().String() + "\x00"))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func TestDeterministic(t *testing.T) {
	gens := []struct {
		name string
		gen  func(dir string, seed uint64) (Stats, error)
	}{
		{"A", func(d string, s uint64) (Stats, error) { return GenerateA(d, 24<<20, s) }},
		{"B", func(d string, s uint64) (Stats, error) { return GenerateB(d, 50, s) }},
		{"C", func(d string, s uint64) (Stats, error) { return GenerateC(d, 2, 200, s) }},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			root := t.TempDir()
			d1, d2, d3 := filepath.Join(root, "1"), filepath.Join(root, "2"), filepath.Join(root, "3")
			s1, err := g.gen(d1, 7)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := g.gen(d2, 7)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.gen(d3, 8); err != nil {
				t.Fatal(err)
			}
			if s1 != s2 || s1.Files == 0 {
				t.Fatalf("stats differ or empty: %+v vs %+v", s1, s2)
			}
			if digest(t, d1) != digest(t, d2) {
				t.Error("same seed gave different corpora")
			}
			if digest(t, d1) == digest(t, d3) {
				t.Error("different seeds gave the same corpus")
			}
		})
	}
}

func TestCorpusAMix(t *testing.T) {
	dir := t.TempDir()
	st, err := GenerateA(dir, 64<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes < 60<<20 || st.Bytes > 80<<20 {
		t.Errorf("corpus A of 64 MiB has %d bytes", st.Bytes)
	}
	kinds := map[string]int{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			kinds[filepath.Ext(p)]++
			parts := strings.Split(filepath.ToSlash(strings.TrimPrefix(p, dir+"/")), "/")
			if len(parts) != 5 || parts[0] != "library" || !strings.HasPrefix(parts[3], parts[2]+"-") {
				t.Errorf("not in library/<user>/<yyyy>/<yyyy-mm-dd>/: %s", p)
			}
		}
		return nil
	})
	if kinds[".xmp"] == 0 || kinds[".mp4"]+kinds[".mov"] == 0 || kinds[".dng"]+kinds[".cr3"] == 0 || kinds[".jpg"]+kinds[".heic"] == 0 {
		t.Errorf("missing a file class: %v", kinds)
	}
}

// TestCorpusCChanges checks the day-to-day change rates of the dumps.
func TestCorpusCChanges(t *testing.T) {
	dir := t.TempDir()
	const rows = 5000
	if _, err := GenerateC(dir, 2, rows, 3); err != nil {
		t.Fatal(err)
	}
	lines := func(day int) map[string]bool {
		b, err := os.ReadFile(filepath.Join(dir, DayName(day)))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		in := ""
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "COPY public."):
				in = strings.Fields(l)[1]
			case l == `\.`:
				in = ""
			case in == "public.asset":
				m[l] = true
			}
		}
		return m
	}
	d1, d2 := lines(1), lines(2)
	if len(d1) != rows {
		t.Fatalf("day 1 has %d asset rows, want %d", len(d1), rows)
	}
	gone, added := 0, 0
	for l := range d1 {
		if !d2[l] {
			gone++ // updated or deleted
		}
	}
	for l := range d2 {
		if !d1[l] {
			added++ // updated or appended
		}
	}
	// 0.2 % updated (10, fewer if the same row is drawn twice), 1 deleted, 0.5 % appended (25).
	if gone < 5 || gone > 11 {
		t.Errorf("%d day-1 rows changed or deleted, want about 11", gone)
	}
	if added < 30 || added > 35 {
		t.Errorf("%d day-2 rows new or changed, want about 35", added)
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"123", 123, false}, {"2GiB", 2 << 30, false}, {"500MB", 500e6, false}, {"1.5GB", 1.5e9, false},
		{"50k", 50000, false}, {"10 MiB", 10 << 20, false}, {"", 0, true}, {"-1", 0, true}, {"1XB", 0, true},
	} {
		got, err := ParseSize(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}
