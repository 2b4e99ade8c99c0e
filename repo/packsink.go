package repo

import (
	"bufio"
	"io"
	"os"
)

// packSink writes a spooled pack into its temporary file (the Uploader's
// packBuilder.file). Write takes the pack's bytes in order; Flush writes
// whatever is buffered, after which the file holds the whole pack and is
// open for reading; Close stops the sink without flushing (a pack that is
// discarded). After Flush or Close the sink is not used again, and only
// then may the file be closed: the sink may still be writing to it until
// they return.
type packSink interface {
	io.Writer
	Flush() error
	Close()
}

// bufSink is the portable packSink: writes through the page cache, in
// 256 KiB system calls.
type bufSink struct{ *bufio.Writer }

func newBufSink(f *os.File) packSink { return bufSink{bufio.NewWriterSize(f, 256<<10)} }

func (bufSink) Close() {}
