package index

import (
	"fmt"
	"sync"
	"testing"
)

func TestMetaWriterAndPrefix(t *testing.T) {
	c, err := OpenCache(t.TempDir(), &Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, err := c.HasMetaPrefix([]byte("fc1")); err != nil || ok {
		t.Fatalf("empty cache: HasMetaPrefix = %v, %v", ok, err)
	}
	c.PutMeta([]byte("other"), []byte("x"))
	if ok, _ := c.HasMetaPrefix([]byte("fc1")); ok {
		t.Fatal("prefix found though only another key exists")
	}
	w := c.NewMetaWriter()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if err := w.Put([]byte(fmt.Sprintf("fc1-%d-%d", g, i)), []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.HasMetaPrefix([]byte("fc1")); !ok {
		t.Fatal("prefix not found after flush")
	}
	for g := range 4 {
		v, ok, err := c.GetMeta([]byte(fmt.Sprintf("fc1-%d-499", g)))
		if err != nil || !ok || string(v) != "499" {
			t.Fatalf("GetMeta after batch: %q %v %v", v, ok, err)
		}
	}
}
