package immich

import (
	"bytes"
	"io"
	"testing"
)

func FuzzParseDump(f *testing.F) {
	f.Add([]byte("COPY public.asset (id, \"originalPath\", checksum) FROM stdin;\na\t/data/x\t\\\\x00ff\n\\.\n"))
	f.Add([]byte("COPY public.\"user\" (id, \"profileImagePath\") FROM stdin;\n1\t\\N\n"))
	f.Add([]byte("COPY a.b.c (x) FROM stdin;\n\\.\nCOPY public.assets (\"a\"\"b\", id) FROM stdin;\n\\x4\\101\\\n\\.\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tables, err := ParseDump(bytes.NewReader(b), catalogWant())
		if err == nil {
			if _, err := extract(tables); err != nil && tables["asset"] != nil {
				t.Fatalf("extract failed with an asset table: %v", err)
			}
		}
	})
}

func FuzzParseEnv(f *testing.F) {
	f.Add([]byte("UPLOAD_LOCATION=./library\nDB_PASSWORD=\"p\\\"w\" # c\nexport A='x y'\n#c\n"))
	f.Add([]byte("=\n\"=\"\nA=\"unterminated\nB='\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range ParseEnv(b) {
			if k == "" {
				t.Fatal("empty key")
			}
		}
	})
}

func FuzzParseCompose(f *testing.F) {
	f.Add([]byte("services:\n  immich-server:\n    volumes:\n      - ${UPLOAD_LOCATION}:/data\n      - /mnt/a:/mnt/media/a:ro\n      - type: bind\n        source: ./x\n        target: /y\n"), "${A:-/d}")
	f.Add([]byte("services: [1,2]\n"), "$$A${")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		ParseCompose(b, map[string]string{"A": s}, "/base")
		Interpolate(s, map[string]string{"A": "x"})
	})
}

func FuzzFixSearchPath(f *testing.F) {
	f.Add([]byte("x\n"+string(searchPathEmpty)+"\ny"), uint8(7))
	f.Add([]byte(string(searchPathEmpty[:20])+string(searchPathEmpty)), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		r := FixSearchPath(&chunked{b: b, n: int(chunk%64) + 1})
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.ReplaceAll(b, searchPathEmpty, searchPathFixed); !bytes.Equal(got, want) {
			t.Fatalf("got %q want %q", got, want)
		}
	})
}

// chunked returns at most n bytes per Read (to split matches across reads).
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}
