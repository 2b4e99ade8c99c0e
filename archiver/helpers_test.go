package archiver_test

import (
	"bytes"
	"io"
)

// eventReader logs reads and EOF of a stream.
type eventReader struct {
	name string
	rd   io.Reader
	log  *[]string
	read bool
}

func (e *eventReader) Read(p []byte) (int, error) {
	if !e.read {
		e.read = true
		*e.log = append(*e.log, "read "+e.name)
	}
	n, err := e.rd.Read(p)
	if err == io.EOF {
		*e.log = append(*e.log, "eof "+e.name)
	}
	return n, err
}

func newEventReader(name string, b []byte, log *[]string) *eventReader {
	return &eventReader{name: name, rd: bytes.NewReader(b), log: log}
}
