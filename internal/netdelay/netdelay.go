// Package netdelay is a TCP proxy that adds latency, and optionally limits
// bandwidth, for tests and benchmarks of how the program behaves against a
// distant server (an S3 bucket 50 ms away behind a 400 Mbit/s line) while
// the server runs on 127.0.0.1.
//
// Every byte is delivered RTT/2 after the proxy received it, in each
// direction, so a request/response exchange costs one RTT more than
// direct, and a connection's setup (the client's first bytes, the server's
// first answer) as well. Throughput is not limited: the proxy reads as
// fast as the sender writes and holds up to MaxInFlight bytes per
// direction and connection in its delay line (a long fat pipe whose
// window never closes, which flatters bulk transfers compared with real
// TCP over a long link, but keeps every round trip a program makes
// visible; it is round trips that make a reader slow at a distance).
//
// StartWith adds a bandwidth limit and a per-connection window: each
// direction is one link of Options.Rate bytes per second shared by all
// connections (a chunk leaves the link when the chunks before it, of any
// connection, have; then it travels RTT/2), and a connection holds at most
// Options.Window bytes in the delay line, as a TCP window would, so one
// connection moves at most Window per RTT.
package netdelay

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// MaxInFlight bounds the bytes one direction of one connection holds in
// its delay line; a sender beyond it waits (as TCP's window would).
const MaxInFlight = 64 << 20

const chunkSize = 32 << 10

// Proxy forwards connections made to Addr to a target address, delaying
// the data of each direction by RTT/2.
type Proxy struct {
	ln       net.Listener
	target   string
	delay    time.Duration // one way
	window   int           // bytes in flight per direction and connection
	up, down *link         // client→server, server→client; nil: unlimited

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on a free 127.0.0.1 port and forwards to target
// ("host:port") with round-trip time rtt added.
func Start(target string, rtt time.Duration) (*Proxy, error) {
	return StartWith(target, Options{RTT: rtt})
}

// Options shape the proxied connections.
type Options struct {
	RTT time.Duration // added round-trip time
	// Rate is the bandwidth of each direction in bytes per second, shared
	// by all connections; 0: unlimited.
	Rate float64
	// Window bounds the bytes one direction of one connection holds in the
	// proxy (default MaxInFlight).
	Window int
}

// StartWith listens on a free 127.0.0.1 port and forwards to target
// ("host:port") shaped by o.
func StartWith(target string, o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, delay: o.RTT / 2, window: o.Window, conns: map[net.Conn]struct{}{}}
	if p.window <= 0 {
		p.window = MaxInFlight
	}
	if o.Rate > 0 {
		p.up, p.down = &link{rate: o.Rate}, &link{rate: o.Rate}
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client, p.up) }()
	go func() { defer wg.Done(); p.pipe(client, server, p.down) }()
	wg.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// link is one direction's bandwidth, shared by the connections.
type link struct {
	rate float64 // bytes per second
	mu   sync.Mutex
	free time.Time // when the link has sent everything queued so far
}

// send queues n bytes that arrived at now and returns when their last
// byte has left the link.
func (l *link) send(n int, now time.Time) time.Time {
	if l == nil {
		return now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.free.Before(now) {
		l.free = now
	}
	l.free = l.free.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	return l.free
}

// pipe copies src to dst, each chunk due delay after it left the link
// (immediately without a bandwidth limit). At EOF of src the write side of
// dst is closed (after the delay), so half-closed connections behave as
// without the proxy; an error ends both.
func (p *Proxy) pipe(dst, src net.Conn, l *link) {
	line := make(chan chunk, max(1, p.window/chunkSize))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range line {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if c.eof {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				continue
			}
			if _, err := dst.Write(c.data); err != nil {
				// The reader side stops at its next read.
				src.Close()
				for range line {
				}
				return
			}
		}
	}()
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			line <- chunk{data: buf[:n], due: l.send(n, time.Now()).Add(p.delay)}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				line <- chunk{eof: true, due: l.send(0, time.Now()).Add(p.delay)}
			} else {
				dst.Close()
			}
			break
		}
	}
	close(line)
	<-done
}
