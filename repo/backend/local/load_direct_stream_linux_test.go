package local

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// TestLoadDirectStreams: a direct range is handed to fn while it is still
// being read, and NextBytes waits for exactly the bytes it asks for: with
// the reader held after its first piece, fn gets the first piece's bytes,
// and the bytes past it only once the reader goes on. A file cut short
// behind the reader's back makes the bytes past the cut an error
// (io.ErrUnexpectedEOF), never zeros, and Load returns it.
func TestLoadDirectStreams(t *testing.T) {
	ctx := backend.WithReadOnce(context.Background())
	be, err := Open(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 6<<20)
	rand.NewChaCha8([32]byte{2}).Read(content)
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("cd", 32)}
	if err := be.Save(ctx, h, backend.NewByteReader(content)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(be.dir, "data", h.Name[:2], h.Name)
	defer func(old int) { directPiece, testHookPiece = old, nil }(directPiece)
	directPiece = 1 << 20

	// The reader stops before its second piece until released.
	release := make(chan struct{})
	reached := make(chan struct{}, 16)
	testHookPiece = func(read int) {
		if read > 0 {
			reached <- struct{}{}
			<-release
		}
	}
	const off = 100
	err = be.Load(ctx, h, 4<<20, off, func(rd io.Reader) error {
		nb := rd.(nextBytes)
		// Only the first piece is read: its bytes come at once.
		done := make(chan error, 1)
		go func() {
			b, err := nb.NextBytes(1<<20 - off)
			if err == nil && string(b) != string(content[off:1<<20]) {
				err = errors.New("first bytes differ from the file")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-time.After(2 * time.Minute):
			return errors.New("NextBytes of the first piece's bytes did not return while the reader waited")
		}
		// The next bytes wait for the reader.
		go func() {
			b, err := nb.NextBytes(2 << 20)
			if err == nil && string(b) != string(content[1<<20:3<<20]) {
				err = errors.New("next bytes differ from the file")
			}
			done <- err
		}()
		select {
		case err := <-done:
			return errors.New("NextBytes past the read bytes returned before they were read: " + errString(err))
		case <-reached:
		case <-time.After(2 * time.Minute):
			return errors.New("the reader never reached its second piece")
		}
		close(release) // and every later piece passes the hook at once
		if err := <-done; err != nil {
			return err
		}
		rest, err := io.ReadAll(rd)
		if err == nil && string(rest) != string(content[3<<20:4<<20+off]) {
			err = errors.New("the rest differs from the file")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Cut short behind the reader's back after its first piece.
	var cut bool
	testHookPiece = func(read int) {
		if read > 0 && !cut {
			cut = true
			if err := os.Truncate(p, 1<<20); err != nil {
				t.Error(err)
			}
		}
	}
	var first []byte
	var nextErr error
	err = be.Load(ctx, h, 4<<20, 0, func(rd io.Reader) error {
		nb := rd.(nextBytes)
		b, err := nb.NextBytes(1 << 20)
		if err != nil {
			return err
		}
		first = append([]byte(nil), b...)
		_, nextErr = nb.NextBytes(1 << 20)
		return nextErr
	})
	if !cut {
		t.Fatal("the reader never read a second piece")
	}
	if string(first) != string(content[:1<<20]) {
		t.Error("bytes before the cut differ from the file")
	}
	if !errors.Is(nextErr, io.ErrUnexpectedEOF) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("bytes past the cut: NextBytes %v, Load %v; want io.ErrUnexpectedEOF", nextErr, err)
	}
}

type nextBytes interface{ NextBytes(int) ([]byte, error) }

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
