package retry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/backend/retry"
)

var fast = retry.Options{MaxAttempts: 4, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return retry.New(mem.New(), fast) })
}

// TestConformanceFaulty: the suite still passes when every first Save,
// Load and Stat of the wrapped backend fails transiently.
func TestConformanceFaulty(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		f := faulty.New(mem.New())
		f.SetSaveErr(faulty.Nth[backend.Handle](1, errTransient))
		f.SetLoadErr(faulty.Nth[backend.Handle](1, errTransient))
		f.SetStatErr(faulty.Nth[backend.Handle](2, errTransient))
		return retry.New(f, fast)
	})
}

var errTransient = errors.New("connection reset by peer (injected)")

type permErr struct{}

func (permErr) Error() string   { return "credentials refused (injected)" }
func (permErr) Permanent() bool { return true }

func setup(t *testing.T) (*faulty.Faulty, *retry.Backend) {
	t.Helper()
	f := faulty.New(mem.New())
	if err := f.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, retry.New(f, fast)
}

var h = backend.Handle{Type: backend.PackFile, Name: backendtest.Name(1)}

func TestSaveRetries(t *testing.T) {
	tests := []struct {
		name      string
		hook      func(backend.Handle) error
		wantErr   error
		wantCalls int
	}{
		{"transient once", faulty.Nth[backend.Handle](1, errTransient), nil, 2},
		{"transient thrice", faulty.After[backend.Handle](0, errTransient), errTransient, 4},
		{"not found is permanent", faulty.Always[backend.Handle](backend.ErrNotFound), backend.ErrNotFound, 1},
		{"no space is permanent", faulty.Always[backend.Handle](backend.ErrNoSpace), backend.ErrNoSpace, 1},
		{"permanent interface", faulty.Always[backend.Handle](permErr{}), permErr{}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, be := setup(t)
			f.SetSaveErr(tc.hook)
			data := backendtest.Data(1, 5000)
			rd := backend.NewByteReader(data)
			_, _ = rd.Read(make([]byte, 100)) // Save must rewind on retry, not trust the position
			err := be.Save(context.Background(), h, rd)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Save = %v, want %v", err, tc.wantErr)
			}
			if got := f.Calls(faulty.OpSave); got != tc.wantCalls {
				t.Fatalf("Save calls = %d, want %d", got, tc.wantCalls)
			}
			if err == nil {
				got, err := backend.LoadAll(context.Background(), be, h)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("stored %d bytes (err %v), want the %d bytes", len(got), err, len(data))
				}
			}
		})
	}
}

// A Save whose acknowledgement is lost: the retry meets ErrExists with the
// right size and reports success.
func TestSaveLostAck(t *testing.T) {
	f, be := setup(t)
	f.SetSaveErrAfter(faulty.Nth[backend.Handle](1, errTransient))
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte("hello"))); err != nil {
		t.Fatalf("Save: %v", err)
	}
	// A genuine ErrExists on the first attempt is still reported.
	f.Reset()
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte("hello"))); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Save over an existing file: %v, want ErrExists", err)
	}
}

func TestLoadShortReadRetried(t *testing.T) {
	f, be := setup(t)
	data := backendtest.Data(2, 10000)
	if err := be.Save(context.Background(), h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	var n int
	f.SetShortRead(func(backend.Handle) int64 {
		n++
		if n == 1 {
			return 10
		}
		return -1
	})
	buf := make([]byte, 5000)
	calls := 0
	err := be.Load(context.Background(), h, 5000, 100, func(rd io.Reader) error {
		calls++
		_, err := io.ReadFull(rd, buf)
		return err
	})
	if err != nil || calls != 2 || !bytes.Equal(buf, data[100:5100]) {
		t.Fatalf("Load = %v after %d fn calls", err, calls)
	}
}

func TestLoadCallerErrorNotRetried(t *testing.T) {
	f, be := setup(t)
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("caller's decode error")
	err := be.Load(context.Background(), h, 0, 0, func(io.Reader) error { return boom })
	if !errors.Is(err, boom) || f.Calls(faulty.OpLoad) != 1 {
		t.Fatalf("Load = %v with %d calls, want boom after 1", err, f.Calls(faulty.OpLoad))
	}
	// A range past the end of the file is not retried either.
	err = be.Load(context.Background(), h, 10, 0, func(io.Reader) error { return nil })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Load past end = %v", err)
	}
}

func TestCanceledDuringBackoff(t *testing.T) {
	f := faulty.New(mem.New())
	f.SetStatErr(faulty.Always[backend.Handle](errTransient))
	be := retry.New(f, retry.Options{MaxAttempts: 10, InitialDelay: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	// With jitter the first delay may be tiny; the loop still must end by the deadline.
	_, err := be.Stat(ctx, h)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errTransient) {
		t.Fatalf("Stat = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Stat took %v with a 50 ms deadline", time.Since(start))
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	f.Reset()
	f.SetStatErr(faulty.Always[backend.Handle](context.Canceled))
	before := f.Calls(faulty.OpStat)
	if _, err := be.Stat(canceled, h); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat = %v", err)
	}
	if got := f.Calls(faulty.OpStat) - before; got != 1 {
		t.Fatalf("canceled Stat called %d times", got)
	}
}

func TestRemoveRetried(t *testing.T) {
	f, be := setup(t)
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	f.SetRemoveErr(faulty.Nth[backend.Handle](1, errTransient))
	if err := be.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if _, err := be.Stat(context.Background(), h); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("file still there: %v", err)
	}
	if err := be.Remove(context.Background(), h); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Remove of missing file: %v", err)
	}
}

func TestListRetriedBeforeFirstEntry(t *testing.T) {
	f, be := setup(t)
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	f.SetListErr(faulty.Nth[backend.FileType](1, errTransient))
	n := 0
	if err := be.List(context.Background(), backend.PackFile, func(backend.FileInfo) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("List = %v, %d entries", err, n)
	}
}
