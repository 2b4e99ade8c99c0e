package immich

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Null stands for SQL NULL in Table rows (a path never holds a NUL byte).
const Null = "\x00"

// Table holds the wanted columns of one table's rows.
type Table struct {
	Name  string     // unqualified, unquoted ("asset", "user")
	Cols  []string   // the wanted columns present, in Rows order
	Rows  [][]string // Null for NULL; empty when only counted
	Count int64
}

// Col returns the index of column c in t.Cols, or -1.
func (t *Table) Col(c string) int {
	for i, x := range t.Cols {
		if x == c {
			return i
		}
	}
	return -1
}

// ParseDump reads a plain-format SQL dump (pg_dump output, or the same
// COPY blocks from a live query) and returns, for each table named in want,
// its row count and the wanted columns of each row (want[name] nil: count
// only). Every other table is returned with its row count only (bounded
// memory). It never panics on
// hostile input; it fails on an unterminated COPY block or an over-long line.
func ParseDump(r io.Reader, want map[string][]string) (map[string]*Table, error) {
	return ScanDump(r, want, func(t *Table, row []string) error {
		t.Rows = append(t.Rows, row)
		return nil
	})
}

// ScanDump is ParseDump with the rows handed to fn one by one instead of
// kept (t.Rows stays empty; t.Cols says what row holds): a dump of any size
// is read in bounded memory. An error from fn stops the scan and is
// returned.
func ScanDump(r io.Reader, want map[string][]string, fn func(t *Table, row []string) error) (map[string]*Table, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	out := map[string]*Table{}
	var (
		cur  *Table
		idx  []int // source column index per wanted column
		skip bool  // inside an unwanted COPY block
		ln   int
	)
	const maxLine = 256 << 20
	for {
		line, err := readLine(br, maxLine)
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("dump line %d: %w", ln+1, err)
		}
		ln++
		if cur != nil || skip {
			if line == `\.` {
				cur, skip = nil, false
				continue
			}
			if skip {
				continue
			}
			cur.Count++
			if len(cur.Cols) == 0 {
				continue
			}
			fields := strings.Split(line, "\t")
			row := make([]string, len(idx))
			for i, j := range idx {
				if j >= len(fields) {
					return out, fmt.Errorf("dump line %d: table %s: row has %d fields, want more than %d", ln, cur.Name, len(fields), j)
				}
				row[i] = unescapeCopy(fields[j])
			}
			if err := fn(cur, row); err != nil {
				return out, err
			}
			continue
		}
		if !strings.HasPrefix(line, "COPY ") || !strings.HasSuffix(line, " FROM stdin;") {
			continue
		}
		name, cols, ok := parseCopyHeader(line)
		if !ok {
			skip = true
			continue
		}
		wc := want[name] // a table not wanted is counted only
		cur = out[name]
		if cur == nil {
			cur = &Table{Name: name}
			out[name] = cur
		}
		cur.Cols, idx = cur.Cols[:0], idx[:0]
		for _, w := range wc {
			for j, c := range cols {
				if c == w {
					cur.Cols = append(cur.Cols, w)
					idx = append(idx, j)
				}
			}
		}
	}
	if cur != nil || skip {
		return out, errors.New("dump ends inside a COPY block: it is truncated")
	}
	return out, nil
}

func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > max {
			return "", errors.New("line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				break
			}
			return "", err
		}
		break
	}
	s := strings.TrimSuffix(string(buf), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// parseCopyHeader parses `COPY schema.table (col, "Col") FROM stdin;`.
func parseCopyHeader(line string) (string, []string, bool) {
	s := strings.TrimSuffix(strings.TrimPrefix(line, "COPY "), " FROM stdin;")
	open := strings.IndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") {
		return "", nil, false
	}
	qname := strings.TrimSpace(s[:open])
	parts, ok := splitIdents(qname, '.')
	if !ok || len(parts) == 0 || len(parts) > 2 {
		return "", nil, false
	}
	cols, ok := splitIdents(s[open+1:len(s)-1], ',')
	if !ok {
		return "", nil, false
	}
	return parts[len(parts)-1], cols, true
}

// splitIdents splits a list of possibly quoted identifiers.
func splitIdents(s string, sep byte) ([]string, bool) {
	var out []string
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var id strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			for {
				if i >= len(s) {
					return nil, false
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						id.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				id.WriteByte(s[i])
				i++
			}
		} else {
			for i < len(s) && s[i] != sep && s[i] != ' ' {
				id.WriteByte(s[i])
				i++
			}
		}
		if id.Len() == 0 {
			return nil, false
		}
		out = append(out, id.String())
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return out, true
		}
		if s[i] != sep {
			return nil, false
		}
		i++
	}
}

// unescapeCopy decodes one field of COPY's text format.
func unescapeCopy(f string) string {
	if f == `\N` {
		return Null
	}
	if strings.IndexByte(f, '\\') < 0 {
		return f
	}
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 >= len(f) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch e := f[i]; e {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'v':
			sb.WriteByte('\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(f) && isHex(f[i+1]) {
				v = v*16 + hexVal(f[i+1])
				i++
				n++
			}
			if n == 0 {
				sb.WriteByte('x')
			} else {
				sb.WriteByte(byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for n := 1; n < 3 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; n++ {
				v = v*8 + int(f[i+1]-'0')
				i++
			}
			sb.WriteByte(byte(v))
		default:
			sb.WriteByte(e)
		}
	}
	return sb.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}
