// Command corpus writes one of the deterministic benchmark corpora of
// bench/corpus: go run ./bench/cmd/corpus -kind A|B|C|D -size ... -seed N -out DIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/immich-vault/immich-vault/bench/corpus"
)

func main() {
	kind := flag.String("kind", "A", "corpus `kind`: A (photo library), B (thumbnails), C (daily SQL dumps), D (compressible /usr-like and source-tree-like mix with dumps)")
	size := flag.String("size", "", "A, D: total bytes (e.g. 2GiB, 500MB); B: number of files (default 50000); C: number of days (default 10)")
	rows := flag.Int("rows", 10000, "C: assets in the database on day 1")
	seed := flag.Uint64("seed", 1, "random `seed` (same seed, same corpus)")
	out := flag.String("out", "", "output `directory` (created)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "corpus: -out DIR is required")
		os.Exit(2)
	}
	start := time.Now()
	var st corpus.Stats
	var err error
	switch *kind {
	case "A":
		n := int64(2 << 30)
		if *size != "" {
			if n, err = corpus.ParseSize(*size); err != nil {
				break
			}
		}
		st, err = corpus.GenerateA(*out, n, *seed)
	case "B":
		n := int64(50000)
		if *size != "" {
			n, err = corpus.ParseSize(*size)
		}
		if err == nil {
			st, err = corpus.GenerateB(*out, int(n), *seed)
		}
	case "C":
		n := int64(10)
		if *size != "" {
			n, err = corpus.ParseSize(*size)
		}
		if err == nil {
			st, err = corpus.GenerateC(*out, int(n), *rows, *seed)
		}
	case "D":
		n := int64(1 << 30)
		if *size != "" {
			if n, err = corpus.ParseSize(*size); err != nil {
				break
			}
		}
		st, err = corpus.GenerateD(*out, n, *seed)
	default:
		err = fmt.Errorf("unknown kind %q (want A, B, C or D)", *kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
	fmt.Printf("corpus %s: %d files, %d bytes in %s (%s)\n", *kind, st.Files, st.Bytes, *out, time.Since(start).Round(time.Millisecond))
}
