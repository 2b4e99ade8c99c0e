package crypto

import (
	"sort"
	"testing"
)

// ID.Compare orders as the hex strings do (what the callers sorted by
// before), and is 0 exactly for equal IDs.
func TestIDCompare(t *testing.T) {
	ids := make([]ID, 300)
	for i := range ids {
		ids[i] = Hash([]byte{byte(i), byte(i >> 8)})
	}
	ids[7][0], ids[8][0] = 0, 0 // equal first bytes: later bytes decide
	for i := range ids {
		for j := range ids {
			want := 0
			if a, b := ids[i].String(), ids[j].String(); a < b {
				want = -1
			} else if a > b {
				want = 1
			}
			if got := ids[i].Compare(ids[j]); got != want {
				t.Fatalf("%v.Compare(%v) = %d, want %d", ids[i], ids[j], got, want)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Compare(ids[j]) < 0 })
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() }) {
		t.Fatal("sorted by Compare is not sorted by String")
	}
}
