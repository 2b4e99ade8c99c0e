package corpus

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GenerateD writes corpus D (about total bytes) under dir: the compressible
// data a server also holds, a /usr-like and source-tree-like mix, by bytes:
//
//   - 30 % source code (src/<project>/<pkg>/<file>.{go,c,h,py,js}, 1–80 KB):
//     lines of a per-project vocabulary of identifiers with keywords,
//     operators, indentation and comments;
//   - 15 % documentation and data text (share/doc, share/man, etc: *.txt,
//     *.html, *.json, *.xml, 2–400 KB): Zipf-distributed words;
//   - 30 % libraries and programs (lib/*.so.N, bin/*, 20 KB–6 MB): ELF-like
//     mixes of zero padding, "code" (bytes from a skewed opcode alphabet),
//     string tables and random data;
//   - 10 % already compressed files (*.gz, *.png, *.jar, 4 KB–4 MB): random;
//   - 15 % database dumps: corpus C's first two days (var/backups/*.sql),
//     the dumps a user keeps as files.
//
// zstd -3 stores it in about 47 % of its size (source 32 %, dumps 38 %,
// libraries 55 %; a real /usr: 35–45 %).
func GenerateD(dir string, total int64, seed uint64) (Stats, error) {
	var st Stats
	mtime := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	n := uint64(0)
	type kind struct {
		share    float64
		min, max int64
		path     func(r *rand.Rand, i uint64) string
		fill     func(w *bufio.Writer, r *rand.Rand, size int64) error
	}
	vocab := words(newRand(seed, "Dvocab", 0), 4000)
	projects := []string{"coreutils", "libfoo", "immich-server", "webkit", "python3", "openssl", "systemd", "mesa"}
	kinds := []kind{
		{0.30, 1 << 10, 80 << 10, func(r *rand.Rand, i uint64) string {
			p := projects[r.IntN(len(projects))]
			return filepath.Join("src", p, fmt.Sprintf("pkg%02d", r.IntN(40)), fmt.Sprintf("%s_%d%s", vocab[r.IntN(len(vocab))], i, []string{".go", ".c", ".h", ".py", ".js"}[r.IntN(5)]))
		}, func(w *bufio.Writer, r *rand.Rand, size int64) error { return sourceText(w, r, size, vocab) }},
		{0.15, 2 << 10, 400 << 10, func(r *rand.Rand, i uint64) string {
			return filepath.Join("share", []string{"doc", "man/man1", "locale", "etc"}[r.IntN(4)], fmt.Sprintf("%s-%d%s", vocab[r.IntN(len(vocab))], i, []string{".txt", ".html", ".json", ".xml"}[r.IntN(4)]))
		}, func(w *bufio.Writer, r *rand.Rand, size int64) error { return prose(w, r, size, vocab) }},
		{0.30, 20 << 10, 6 << 20, func(r *rand.Rand, i uint64) string {
			if r.IntN(3) == 0 {
				return filepath.Join("bin", fmt.Sprintf("%s%d", vocab[r.IntN(len(vocab))], i))
			}
			return filepath.Join("lib", fmt.Sprintf("lib%s.so.%d", vocab[r.IntN(len(vocab))], i))
		}, func(w *bufio.Writer, r *rand.Rand, size int64) error { return elfLike(w, r, size, vocab) }},
		{0.10, 4 << 10, 4 << 20, func(r *rand.Rand, i uint64) string {
			return filepath.Join("share", "assets", fmt.Sprintf("%s-%d%s", vocab[r.IntN(len(vocab))], i, []string{".gz", ".png", ".jar"}[r.IntN(3)]))
		}, nil},
	}
	buf := make([]byte, 1<<20)
	for k, kd := range kinds {
		budget := int64(float64(total) * kd.share)
		for budget > 0 {
			r := newRand(seed, "D", n)
			n++
			size := kd.min + r.Int64N(kd.max-kd.min+1)
			size = min(size, max(budget, kd.min))
			rel := kd.path(r, n)
			p := filepath.Join(dir, rel)
			t := mtime.Add(time.Duration(n) * time.Minute)
			var err error
			if kd.fill == nil {
				err = writeFile(p, contentReader(seed, "D/"+rel), size, t, buf)
			} else {
				err = writeGen(p, size, t, func(w *bufio.Writer) error { return kd.fill(w, r, size) })
			}
			if err != nil {
				return st, fmt.Errorf("corpus D kind %d: %w", k, err)
			}
			st.Add(size)
			budget -= size
		}
	}
	// Dumps: corpus C's days 1 and 2, sized to the remaining 15 %.
	rows := max(100, int(float64(total)*0.15/2/6800))
	cs, err := GenerateC(filepath.Join(dir, "var", "backups"), 2, rows, seed)
	if err != nil {
		return st, err
	}
	st.Files += cs.Files
	st.Bytes += cs.Bytes
	return st, nil
}

// writeGen writes exactly size bytes produced by gen (cut or padded with
// newlines) into path and sets its mtime.
func writeGen(path string, size int64, mtime time.Time, gen func(*bufio.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	lw := &limitWriter{f: f, left: size}
	w := bufio.NewWriterSize(lw, 64<<10)
	err = gen(w)
	if err == nil {
		err = w.Flush()
	}
	if full(err) {
		err = nil
	}
	for err == nil && lw.left > 0 {
		_, err = lw.Write([]byte(strings.Repeat("\n", int(min(lw.left, 4096)))))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chtimes(path, mtime, mtime)
}

// limitWriter writes at most left bytes to f and then reports errFull,
// which ends a generator.
type limitWriter struct {
	f    *os.File
	left int64
}

type fullError struct{}

func (fullError) Error() string { return "file full" }

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		n, err := l.f.Write(p[:l.left])
		l.left -= int64(n)
		if err != nil {
			return n, err
		}
		return n, fullError{}
	}
	n, err := l.f.Write(p)
	l.left -= int64(n)
	return n, err
}

// full reports whether err is the end of the file's budget (not a failure).
func full(err error) bool { _, ok := err.(fullError); return ok }

// words returns n pronounceable identifiers.
func words(r *rand.Rand, n int) []string {
	const cons, vow = "bcdfghklmnprstvwxz", "aeiou"
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for j := 0; j < 2+r.IntN(3); j++ {
			b.WriteByte(cons[r.IntN(len(cons))])
			b.WriteByte(vow[r.IntN(len(vow))])
			if r.IntN(3) == 0 {
				b.WriteByte(cons[r.IntN(len(cons))])
			}
		}
		out[i] = b.String()
	}
	return out
}

// zipf picks an index in [0, n) with a Zipf-like skew (small ones often).
func zipf(r *rand.Rand, n int) int {
	x := r.Float64()
	return int(float64(n) * x * x * x)
}

func sourceText(w *bufio.Writer, r *rand.Rand, size int64, vocab []string) error {
	kw := []string{"func", "return", "if", "else", "for", "var", "const", "struct", "int", "err", "nil", "static", "void", "self", "def", "import", "switch", "case"}
	ops := []string{" = ", " := ", " == ", " != ", " + ", ", ", "(", ")", " {", "}", ".", "[", "]", " && ", " || ", "->", ";"}
	// A file uses a small local vocabulary (its identifiers) of the project's.
	local := make([]string, 40)
	for i := range local {
		local[i] = vocab[zipf(r, len(vocab))]
	}
	depth := 0
	return writeUntil(size, func() (int, error) {
		var b strings.Builder
		b.WriteString(strings.Repeat("\t", depth))
		switch r.IntN(10) {
		case 0:
			b.WriteString("// " + local[r.IntN(len(local))] + " " + vocab[zipf(r, len(vocab))] + " the " + local[r.IntN(len(local))] + " of " + vocab[zipf(r, len(vocab))])
		case 1:
			if depth < 4 {
				b.WriteString(kw[r.IntN(len(kw))] + " " + local[r.IntN(len(local))] + "(" + local[r.IntN(len(local))] + ") {")
				depth++
			} else {
				b.WriteString("}")
				depth--
			}
		case 2:
			if depth > 0 {
				b.WriteString("}")
				depth--
			}
		default:
			for k := 0; k < 2+r.IntN(6); k++ {
				if r.IntN(4) == 0 {
					b.WriteString(kw[r.IntN(len(kw))])
				} else {
					b.WriteString(local[r.IntN(len(local))])
				}
				b.WriteString(ops[r.IntN(len(ops))])
			}
			if r.IntN(5) == 0 {
				fmt.Fprintf(&b, "%d", r.IntN(4096))
			}
		}
		b.WriteByte('\n')
		return w.WriteString(b.String())
	})
}

func prose(w *bufio.Writer, r *rand.Rand, size int64, vocab []string) error {
	return writeUntil(size, func() (int, error) {
		var b strings.Builder
		for k := 0; k < 8+r.IntN(12); k++ {
			b.WriteString(vocab[zipf(r, len(vocab))])
			b.WriteByte(" ,.  "[r.IntN(5)])
		}
		b.WriteByte('\n')
		return w.WriteString(b.String())
	})
}

// elfLike writes sections of zeros, skewed "code", string tables and random
// data, as in a shared library.
func elfLike(w *bufio.Writer, r *rand.Rand, size int64, vocab []string) error {
	var alpha [32]byte // frequent opcodes and operand bytes
	for i := range alpha {
		alpha[i] = byte(r.IntN(256))
	}
	sec := make([]byte, 0, 64<<10)
	return writeUntil(size, func() (int, error) {
		n := 1<<10 + r.IntN(63<<10)
		sec = sec[:0]
		switch k := r.IntN(20); {
		case k < 4: // padding
			sec = append(sec, make([]byte, n)...)
		case k < 14: // code
			for len(sec) < n {
				if r.IntN(8) == 0 {
					sec = append(sec, byte(r.Uint32()))
				} else {
					sec = append(sec, alpha[zipf(r, len(alpha))])
				}
			}
		case k < 18: // strings and symbols
			for len(sec) < n {
				sec = append(sec, vocab[zipf(r, len(vocab))]...)
				sec = append(sec, '_')
				sec = append(sec, vocab[r.IntN(len(vocab))]...)
				sec = append(sec, 0)
			}
		default: // data
			for len(sec) < n {
				sec = append(sec, byte(r.Uint32()))
			}
		}
		return w.Write(sec)
	})
}

// writeUntil calls write until it has written size bytes or fails; a full
// file (limitWriter) is no failure.
func writeUntil(size int64, write func() (int, error)) error {
	var err error
	for written := int64(0); written < size && err == nil; {
		var n int
		n, err = write()
		written += int64(n)
	}
	if err != nil && !full(err) {
		return err
	}
	return nil
}
