package repo

import (
	"fmt"
	"testing"

	"github.com/immich-vault/immich-vault/index"
)

// TestPlanRepack drives prune's repacking policy without a repository:
// most wasteful pack first, stop once the unused bytes left are within
// MaxUnusedPercent of the bytes kept, skip packs past MaxRepackBytes,
// repack everything partial with a negative percentage, ties by pack ID.
func TestPlanRepack(t *testing.T) {
	pp := func(id byte, size, unused int64) partialPack {
		return partialPack{info: index.PackInfo{ID: ID{id}}, size: size, unused: unused}
	}
	// A: 80% unused, B: 10%, C: 20%; 130 unused bytes in all.
	a, b, c := pp(1, 100, 80), pp(2, 100, 10), pp(3, 200, 40)
	ids := func(l []partialPack) string {
		s := ""
		for _, p := range l {
			s += fmt.Sprint(p.info.ID[0])
		}
		return s
	}
	cases := []struct {
		name      string
		partial   []partialPack
		total     int64
		opts      PruneOptions
		want      string
		wantBytes int64
	}{
		{"nothing partial", nil, 1000, PruneOptions{MaxUnusedPercent: 5}, "", 0},
		{"within the limit already", []partialPack{a, b, c}, 10_000, PruneOptions{MaxUnusedPercent: 5}, "", 0},
		// 5% of 1000 = 50: repacking A leaves 50 unused bytes.
		{"most wasteful first, stop at the limit", []partialPack{b, c, a}, 1000, PruneOptions{MaxUnusedPercent: 5}, "1", 100},
		// 1% of 1000 = 10: A leaves 50, C leaves 10.
		{"continue until within", []partialPack{b, c, a}, 1000, PruneOptions{MaxUnusedPercent: 1}, "13", 300},
		// C (200) would take the bytes read to 300 > 150 and B to 200: skipped.
		{"repack bytes bound skips", []partialPack{b, c, a}, 1000, PruneOptions{MaxUnusedPercent: 1, MaxRepackBytes: 150}, "1", 100},
		// 300 allowed: C fits after A (300), B would not (400).
		{"repack bytes bound exact", []partialPack{b, c, a}, 1000, PruneOptions{MaxUnusedPercent: 0.5, MaxRepackBytes: 300}, "13", 300},
		{"negative repacks all", []partialPack{b, c, a}, 1000, PruneOptions{MaxUnusedPercent: -1}, "132", 400},
		{"ties by pack ID", []partialPack{pp(9, 100, 50), pp(4, 200, 100), pp(6, 100, 50)}, 1000, PruneOptions{MaxUnusedPercent: -1}, "469", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			unused := int64(0)
			for _, p := range tc.partial {
				unused += p.unused
			}
			got, n := planRepack(append([]partialPack(nil), tc.partial...), unused, tc.total, tc.opts)
			if ids(got) != tc.want || n != tc.wantBytes {
				t.Fatalf("planRepack = %q (%d bytes), want %q (%d bytes)", ids(got), n, tc.want, tc.wantBytes)
			}
		})
	}
}
