package archiver

import (
	"testing"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// sameNode must cover every field that reaches a tree's encoding: a node
// differing in any one of them encodes differently, and then sameNodes must
// be false (else a re-scan would reuse a stale tree ID).
func TestSameNodeCoversEncodedFields(t *testing.T) {
	base := func() *data.Node {
		id := repo.ID{1}
		n := &data.Node{Type: data.NodeFile, Mode: 0o644, UID: 1, GID: 2, User: "u", Group: "g",
			Size: 3, Inode: 4, Device: 5, Links: 1, Content: []repo.ID{{9}}}
		n.SetName("f")
		_ = id
		return n
	}
	muts := []func(n *data.Node){
		func(n *data.Node) { n.Mode = 0o600 },
		func(n *data.Node) { n.UID = 7 },
		func(n *data.Node) { n.GID = 7 },
		func(n *data.Node) { n.User = "x" },
		func(n *data.Node) { n.Group = "x" },
		func(n *data.Node) { n.ModTime = n.ModTime.Add(1) },
		func(n *data.Node) { n.ChangeTime = n.ChangeTime.Add(1) },
		func(n *data.Node) { n.Size = 4 },
		func(n *data.Node) { n.Inode = 8 },
		func(n *data.Node) { n.Device = 8 },
		func(n *data.Node) { n.Links = 2 },
		func(n *data.Node) { n.Rdev = 2 },
		func(n *data.Node) { n.SetTarget("t") },
		func(n *data.Node) { n.SetName("g") },
		func(n *data.Node) { n.SetName("f\xff") },
		func(n *data.Node) { n.Content = []repo.ID{{8}} },
		func(n *data.Node) { n.Content = nil },
		func(n *data.Node) { id := repo.ID{3}; n.Subtree = &id },
		func(n *data.Node) { n.Type = data.NodeSymlink },
	}
	for i, m := range muts {
		a, b := base(), base()
		m(b)
		ea, _ := data.EncodeTree(&data.Tree{Nodes: []*data.Node{a}})
		eb, _ := data.EncodeTree(&data.Tree{Nodes: []*data.Node{b}})
		if string(ea) == string(eb) {
			t.Fatalf("mutation %d does not change the encoding; fix the test", i)
		}
		if sameNodes([]*data.Node{a}, []*data.Node{b}) {
			t.Errorf("mutation %d: sameNodes says equal but the encodings differ", i)
		}
	}
	if !sameNodes([]*data.Node{base()}, []*data.Node{base()}) {
		t.Error("identical nodes compared unequal")
	}
}
