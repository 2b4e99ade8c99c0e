package netdelay

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestRateLimitsBandwidth sends 4 MiB through a 8 MiB/s link: it cannot
// take less than half a second (a loaded machine only makes it slower, so
// the lower bound is the assertion), and the bytes arrive intact.
func TestRateLimitsBandwidth(t *testing.T) {
	const size, rate = 4 << 20, 8 << 20
	_, c := dialEcho(t, Options{RTT: 2 * time.Millisecond, Rate: rate, Window: 1 << 20})
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	start := time.Now()
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, werr = c.Write(data) }()
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data changed on the way")
	}
	// Up and down are separate links of 8 MiB/s each; the echo pipelines
	// them, so the whole exchange takes about size/rate = 0.5 s.
	if min := time.Duration(float64(size) / rate * float64(time.Second) * 0.95); d < min {
		t.Fatalf("4 MiB through a %d B/s link took %v, want at least %v", rate, d, min)
	}
	if d > 2*time.Minute {
		t.Fatalf("took %v", d)
	}
	t.Logf("4 MiB echoed in %v", d)
}

// TestRateIsShared: two connections share one link, so together they take
// as long as one connection moving both payloads.
func TestRateIsShared(t *testing.T) {
	const size, rate = 2 << 20, 8 << 20
	p, err := StartWith(echoServer(t), Options{Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			go c.Write(make([]byte, size))
			if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d, min := time.Since(start), time.Duration(float64(2*size)/rate*float64(time.Second)*0.95); d < min {
		t.Fatalf("2 × 2 MiB over one %d B/s link took %v, want at least %v", rate, d, min)
	}
}
