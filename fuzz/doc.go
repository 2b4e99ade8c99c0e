// Package fuzz holds cross-package fuzz targets that drive the exported
// repository API end to end (save → load, backup → restore). Unit fuzz
// targets for individual parsers live next to them (repo, pack, index...).
//
// Run one with:
//
//	go test -fuzz=FuzzSaveLoadBlob -fuzzminimizetime=5s ./fuzz
//
// Every input runs a whole upload (pack, index file, cache update), so
// minimizing a large interesting input takes long: bound it as above or
// the fuzzer seems to hang at "0/sec" for a minute.
package fuzz
