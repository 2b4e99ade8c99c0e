//go:build linux

// Command rsscheck measures the memory of an index.Cache holding many blob
// entries: it stores N synthetic entries through StorePack (one batch per
// simulated pack), then performs random Lookups, and prints the process's
// peak RSS (VmHWM) split into anonymous and file-backed memory.
//
//	go run ./index/internal/rsscheck -n 10000000 -lookups 1000000
//
// File-backed RSS is Badger's memory-mapped table files: page cache the
// kernel reclaims under pressure, not heap. Anonymous RSS is what the
// process really owns; it must not grow with N.
//
// Linux only: it reads /proc/self/status and uses madvise(MADV_PAGEOUT).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
)

func main() {
	n := flag.Int("n", 2_000_000, "blob entries to store")
	lookups := flag.Int("lookups", 1_000_000, "random lookups after loading")
	perPack := flag.Int("per-pack", 1000, "entries per StorePack batch")
	memTable := flag.Int64("memtable", 0, "Options.MemTableSize (0: package default)")
	pageout := flag.Bool("pageout", false, "experiment: madvise(MADV_PAGEOUT) Badger's file mappings every 100k entries and 100k lookups")
	memprofile := flag.String("memprofile", "", "write a heap profile after loading")
	dir := flag.String("dir", "", "cache directory (default: a new temporary directory, removed at exit)")
	flag.Parse()

	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "rsscheck-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
	}
	c, err := index.OpenCache(d, &index.Options{MemTableSize: *memTable})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Entry i has blob ID derived from i, so lookups can regenerate it.
	handle := func(i uint64) pack.BlobHandle {
		var h pack.BlobHandle
		s := rand.NewPCG(i, 0x5eed)
		for j := 0; j < 32; j += 8 {
			binary.LittleEndian.PutUint64(h.ID[j:], s.Uint64())
		}
		h.Type = pack.DataBlob
		if i%10 == 0 {
			h.Type = pack.TreeBlob
		}
		return h
	}
	start := time.Now()
	batch := make([]pack.Entry, 0, *perPack)
	var packID index.ID
	for i := 0; i < *n; i++ {
		batch = append(batch, pack.Entry{BlobHandle: handle(uint64(i)), Offset: uint32(len(batch)) * 1000, Length: 1000, RawLength: 960})
		if len(batch) == *perPack || i == *n-1 {
			binary.LittleEndian.PutUint64(packID[:], uint64(i))
			if err := c.StorePack(ctx, packID, batch); err != nil {
				log.Fatal(err)
			}
			batch = batch[:0]
		}
		if *pageout && i%100_000 == 0 {
			pageOut(d)
		}
		if i > 0 && i%1_000_000 == 0 {
			report(fmt.Sprintf("stored %d", i), start)
		}
	}
	report(fmt.Sprintf("stored %d", *n), start)
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}

	start = time.Now()
	r := rand.New(rand.NewPCG(1, 2))
	found := 0
	for i := 0; i < *lookups; i++ {
		if *pageout && i%100_000 == 0 {
			pageOut(d)
		}
		k := r.Uint64N(uint64(*n) * 2) // half hits, half misses
		_, ok, err := c.Lookup(ctx, handle(k))
		if err != nil {
			log.Fatal(err)
		}
		if ok != (k < uint64(*n)) {
			log.Fatalf("lookup %d: found=%v", k, ok)
		}
		if ok {
			found++
		}
	}
	report(fmt.Sprintf("%d lookups (%d hits)", *lookups, found), start)
	if cnt, err := c.Count(); err != nil || cnt != int64(*n) {
		log.Fatalf("Count = %d, %v", cnt, err)
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	report("closed", time.Now())
}

func report(what string, start time.Time) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := status("VmHWM", "VmRSS", "RssAnon", "RssFile")
	fmt.Printf("%-28s %8.1fs  VmHWM %s  VmRSS %s  RssAnon %s  RssFile %s  GoHeapInuse %d MiB  GoSys %d MiB\n",
		what, time.Since(start).Seconds(), st["VmHWM"], st["VmRSS"], st["RssAnon"], st["RssFile"], ms.HeapInuse>>20, ms.Sys>>20)
}

func status(keys ...string) map[string]string {
	m := map[string]string{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		for _, k := range keys {
			if v, ok := strings.CutPrefix(s.Text(), k+":"); ok {
				m[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return m
}

// pageOut asks the kernel to reclaim the pages of every file mapping under
// dir (Badger's mmapped tables and memtable WALs). MADV_PAGEOUT never
// discards data (dirty file pages are written back; anonymous pages are only
// swapped), so a stale address range cannot corrupt memory.
func pageOut(dir string) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], dir) {
			continue
		}
		var lo, hi uintptr
		if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_PAGEOUT)
	}
}
