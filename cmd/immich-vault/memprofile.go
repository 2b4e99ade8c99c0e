package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// startMemProfile writes a heap profile to path whenever the Go heap in
// use reaches a new high (by 10 %), checked every second, and once more at
// exit (the returned stop): the file holds the profile nearest the peak
// (for performance work; the hidden --mem-profile flag).
func startMemProfile(path string) (stop func()) {
	write := func() {
		if f, err := os.Create(path + ".tmp"); err == nil {
			err = pprof.WriteHeapProfile(f)
			if cerr := f.Close(); err == nil && cerr == nil {
				_ = os.Rename(path+".tmp", path)
			}
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+peak/10 {
				peak = ms.HeapInuse
				write()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		if _, err := os.Stat(path); err != nil {
			write()
		}
	}
}
