package chunker_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/immich-vault/immich-vault/chunker"
)

func ExampleReader() {
	// The repository derives the gear table from its key; here it is seeded.
	var gear [256]uint64
	r := rand.New(rand.NewPCG(1, 2))
	for i := range gear {
		gear[i] = r.Uint64()
	}
	c, err := chunker.New(chunker.Params{Min: 64, Avg: 256, Max: 1024}, &gear)
	if err != nil {
		panic(err)
	}
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	rd := chunker.NewReader(bytes.NewReader(data), c, nil)
	total, chunks := 0, 0
	var buf []byte
	for {
		chunk, err := rd.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		buf = chunk // reuse the chunk buffer
		total += len(chunk)
		chunks++
	}
	fmt.Println(total, chunks > 10)
	// Output: 10000 true
}
