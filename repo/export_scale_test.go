package repo

// SetIndexFileEntriesForTest bounds the entries of the index files prune
// and repair write; it returns what restores the bound.
func SetIndexFileEntriesForTest(n int) (restore func()) {
	old := indexFileEntries
	indexFileEntries = n
	return func() { indexFileEntries = old }
}
