package netdelay

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echoServer answers every connection by echoing what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// dialEcho starts a proxy shaped by o in front of an echo server and
// connects to it; connection and proxy are closed when the test ends.
func dialEcho(t *testing.T, o Options) (*Proxy, net.Conn) {
	t.Helper()
	p, err := StartWith(echoServer(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c
}

func TestRoundTripDelayAndIntegrity(t *testing.T) {
	const rtt = 60 * time.Millisecond
	_, c := dialEcho(t, Options{RTT: rtt})
	// One small exchange costs at least one added RTT.
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q %v", got, err)
	}
	if d := time.Since(start); d < rtt {
		t.Fatalf("round trip took %v, want at least the added %v", d, rtt)
	}
	// Bulk data arrives intact, in order, and is not paced per chunk: 8 MiB
	// take far less than one RTT per 32 KiB chunk (256 chunks × 60 ms).
	data := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	start = time.Now()
	go c.Write(data)
	back := make([]byte, len(data))
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Fatal("echoed data differs")
	}
	if d := time.Since(start); d > 100*rtt {
		t.Fatalf("8 MiB took %v through a %v proxy: bulk data is paced per chunk", d, rtt)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	p, c := dialEcho(t, Options{RTT: 10 * time.Millisecond})
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(c, one); err != nil {
		t.Fatal(err)
	}
	p.Close() // waits for the proxy's goroutines
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.Read(one); err == nil {
		t.Fatal("connection still open after Close")
	}
}
