package immich

import (
	"bytes"
	"io"
)

// The search_path pitfall (Immich issue #5630): pg_dump empties search_path,
// so restoring the geodata_places index on ll_to_earth fails with
// `type "earth" does not exist`. Immich's documented restore rewrites the
// line with sed; FixSearchPath does the same, streaming.
var (
	searchPathEmpty = []byte("SELECT pg_catalog.set_config('search_path', '', false);")
	searchPathFixed = []byte("SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true);")
)

// FixSearchPath returns a reader of r with every occurrence of pg_dump's
// empty search_path statement replaced by one that keeps public on the
// path (exactly bytes.ReplaceAll(all, old, new), in bounded memory).
func FixSearchPath(r io.Reader) io.Reader {
	return &replacer{r: r, old: searchPathEmpty, new: searchPathFixed}
}

type replacer struct {
	r        io.Reader
	old, new []byte
	in       []byte // unprocessed input (may hold a partial match at its end)
	out      []byte // processed output not yet returned
	eof      bool
	err      error
}

func (p *replacer) Read(b []byte) (int, error) {
	for len(p.out) == 0 {
		if p.eof {
			if len(p.in) > 0 {
				p.out, p.in = p.in, nil
				break
			}
			return 0, p.err
		}
		buf := make([]byte, 64<<10)
		n, err := p.r.Read(buf)
		p.in = append(p.in, buf[:n]...)
		if err != nil {
			p.eof = true
			if err != io.EOF {
				p.err = err
			} else {
				p.err = io.EOF
			}
		}
		p.process()
	}
	n := copy(b, p.out)
	p.out = p.out[n:]
	return n, nil
}

// process moves everything that can no longer be part of a match from in
// to out, replacing complete matches.
func (p *replacer) process() {
	var out []byte
	for {
		i := bytes.Index(p.in, p.old)
		if i < 0 {
			break
		}
		out = append(out, p.in[:i]...)
		out = append(out, p.new...)
		p.in = p.in[i+len(p.old):]
	}
	keep := 0
	if !p.eof {
		// The longest suffix of in that is a prefix of old must wait.
		for k := min(len(p.old)-1, len(p.in)); k > 0; k-- {
			if bytes.HasPrefix(p.old, p.in[len(p.in)-k:]) {
				keep = k
				break
			}
		}
	}
	out = append(out, p.in[:len(p.in)-keep]...)
	p.in = append([]byte(nil), p.in[len(p.in)-keep:]...)
	p.out = append(p.out, out...)
}
