// Package corpus generates the benchmark corpora of bench/ deterministically
// from a seed: the same flags and seed always give byte-identical files,
// paths and modification times, so runs on different machines or days
// compare like with like.
//
//   - A: a photo library (incompressible JPEG/HEIC, RAW and video files,
//     small XMP sidecars) in Immich's storage-template layout
//     library/<user>/<yyyy>/<yyyy-mm-dd>/<name>.
//   - B: many thumbnail-sized files (2–40 KB), Immich's thumbs layout.
//   - C: a series of daily pg_dump (COPY text) files of an Immich-like
//     database; see GenerateC.
//
// Functions here are not safe for concurrent use on the same directory.
package corpus

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Stats summarises a generated corpus.
type Stats struct {
	Files int
	Bytes int64
}

// Add records one file of n bytes.
func (s *Stats) Add(n int64) { s.Files++; s.Bytes += n }

// newRand returns a deterministic generator for (seed, stream, i).
func newRand(seed uint64, stream string, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^hashString(stream), i*0x9E3779B97F4A7C15+1))
}

// contentReader returns an endless incompressible stream for (seed, name).
func contentReader(seed uint64, name string) io.Reader {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], hashString(name))
	binary.LittleEndian.PutUint64(k[16:], hashString("content:"+name))
	return rand.NewChaCha8(k)
}

func hashString(s string) uint64 { // FNV-1a, stable across Go versions
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// writeFile creates path (and its directory) with n bytes from r and sets
// its modification time.
func writeFile(path string, r io.Reader, n int64, mtime time.Time, buf []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	if _, err := io.CopyBuffer(f, io.LimitReader(r, n), buf); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return fmt.Errorf("set times of %s: %w", path, err)
	}
	return nil
}

type class struct {
	name     string
	ext      []string
	share    float64 // fraction of the total bytes
	min, max int64
}

// ClassesA returns the file classes of corpus A for a total size: photos
// 1–12 MB, RAW 20–80 MB, videos 30 MB–2 GB (the upper bound scaled down to
// total/8 so small corpora still hold several videos).
func classesA(total int64) []class {
	vmax := min(int64(2<<30), total/8)
	vmin := min(int64(30<<20), vmax/2)
	return []class{
		{"photo", []string{".jpg", ".heic"}, 0.45, 1 << 20, 12 << 20},
		{"raw", []string{".dng", ".cr3"}, 0.20, 20 << 20, 80 << 20},
		{"video", []string{".mp4", ".mov"}, 0.35, vmin, vmax},
	}
}

var users = []string{"admin", "alice", "bob"}

// GenerateA writes corpus A (about total bytes) under dir.
func GenerateA(dir string, total int64, seed uint64) (Stats, error) {
	var st Stats
	buf := make([]byte, 1<<20)
	base := time.Date(2018, 1, 1, 12, 0, 0, 0, time.UTC)
	n := uint64(0)
	for _, c := range classesA(total) {
		budget := int64(float64(total) * c.share)
		for budget > 0 {
			r := newRand(seed, "A", n)
			n++
			size := c.min + r.Int64N(c.max-c.min+1)
			size = min(size, max(budget, c.min))
			user := users[r.IntN(len(users))]
			t := base.Add(time.Duration(r.Int64N(int64(7 * 365 * 24 * time.Hour))))
			d := filepath.Join(dir, "library", user, t.Format("2006"), t.Format("2006-01-02"))
			name := fmt.Sprintf("%s_%06d%s", map[string]string{"photo": "IMG", "raw": "RAW", "video": "VID"}[c.name], n, c.ext[r.IntN(len(c.ext))])
			p := filepath.Join(d, name)
			if err := writeFile(p, contentReader(seed, "A/"+name), size, t, buf); err != nil {
				return st, err
			}
			st.Add(size)
			budget -= size
			if c.name != "video" && r.IntN(3) == 0 || c.name == "raw" {
				x := xmp(name, t, r)
				if err := writeFile(p+".xmp", stringsReader(x), int64(len(x)), t, buf); err != nil {
					return st, err
				}
				st.Add(int64(len(x)))
			}
		}
	}
	return st, nil
}

func xmp(name string, t time.Time, r *rand.Rand) string {
	return fmt.Sprintf(`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 5.5.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
   xmp:CreateDate="%s" xmp:Rating="%d" photoshop:DateCreated="%s"
   exif:GPSLatitude="%.6f" exif:GPSLongitude="%.6f">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">%s</rdf:li></rdf:Alt></dc:title>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Holiday %d</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`, t.Format(time.RFC3339), r.IntN(6), t.Format(time.RFC3339), r.Float64()*180-90, r.Float64()*360-180, name, r.IntN(1000))
}

type stringReader struct {
	s string
	i int
}

func stringsReader(s string) io.Reader { return &stringReader{s: s} }

func (r *stringReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

// GenerateB writes corpus B: files thumbnail files of 2–40 KB under
// dir/thumbs/<user-uuid>/<xx>/<yy>/<asset-uuid>-{thumbnail.webp,preview.jpeg}.
func GenerateB(dir string, files int, seed uint64) (Stats, error) {
	var st Stats
	buf := make([]byte, 64<<10)
	mtime := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < files; i++ {
		r := newRand(seed, "B", uint64(i))
		asset := uuid(r)
		user := uuid(newRand(seed, "Buser", uint64(r.IntN(len(users)))))
		kind := "-thumbnail.webp"
		if i%2 == 1 {
			kind = "-preview.jpeg"
		}
		size := int64(2<<10 + r.IntN(38<<10+1))
		p := filepath.Join(dir, "thumbs", user, asset[0:2], asset[2:4], asset+kind)
		if err := writeFile(p, contentReader(seed, "B/"+asset+kind), size, mtime.Add(time.Duration(i)*time.Second), buf); err != nil {
			return st, err
		}
		st.Add(size)
	}
	return st, nil
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}
