package netdelay

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkProxy is the proxy's own cost per byte (one connection, echo
// server, no added delay or limit): the S3 benchmarks need it well above
// the shaped link's rate.
func BenchmarkProxy(b *testing.B) {
	benchProxy(b, Options{})
}

// BenchmarkProxyShaped adds a 2 ms RTT and a 4 MiB window, the setting of
// the S3 benchmarks without their bandwidth limit.
func BenchmarkProxyShaped(b *testing.B) {
	benchProxy(b, Options{RTT: 2 * time.Millisecond, Window: 4 << 20})
}

func benchProxy(b *testing.B, o Options) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(io.Discard, c) }()
		}
	}()
	p, err := StartWith(ln.Addr().String(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
