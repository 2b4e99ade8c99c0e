// Package s3raw measures an S3 server's raw throughput as a client sees
// it: PUT then GET of a set of objects with aws-sdk-go-v2 and a fixed
// number of parallel requests, bodies in memory so that no disk is timed.
// It is the bound the benchmarks hold backup (PUT) and restore (GET) to.
package s3raw

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// Result is one timed transfer.
type Result struct {
	Time  time.Duration
	Bytes int64
}

// Rate returns bytes per second.
func (r Result) Rate() float64 {
	if r.Time <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Time.Seconds()
}

// ReadFiles returns the contents of every regular file under dir.
func ReadFiles(dir string) ([][]byte, error) {
	var bodies [][]byte
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		bodies = append(bodies, b)
		return err
	})
	return bodies, err
}

// Measure PUTs bodies as objects 0..n-1 of bucket (conns at a time), then
// GETs them back the same way, and returns both transfers.
func Measure(ctx context.Context, c *s3.Client, bucket string, bodies [][]byte, conns int) (put, get Result, err error) {
	runtime.GC()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conns)
	for i, b := range bodies {
		put.Bytes += int64(len(b))
		g.Go(func() error {
			_, err := c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprint(i)),
				Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return put, get, fmt.Errorf("raw put: %w", err)
	}
	put.Time = time.Since(start)
	var mu sync.Mutex
	bufs := make(chan []byte, conns)
	for range conns {
		bufs <- make([]byte, 64<<10)
	}
	start = time.Now()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(conns)
	for i := range bodies {
		g.Go(func() error {
			o, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprint(i))})
			if err != nil {
				return err
			}
			defer o.Body.Close()
			buf := <-bufs
			defer func() { bufs <- buf }()
			n, err := io.CopyBuffer(io.Discard, o.Body, buf)
			mu.Lock()
			get.Bytes += n
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return put, get, fmt.Errorf("raw get: %w", err)
	}
	get.Time = time.Since(start)
	if get.Bytes != put.Bytes {
		return put, get, fmt.Errorf("raw get: %d bytes back of %d put", get.Bytes, put.Bytes)
	}
	return put, get, nil
}
