package repo

// SetTreeWindows sets the tree window sizes (treewindow.go) for a test and
// returns the function that puts them back.
func SetTreeWindows(first, max, cache int) (restore func()) {
	a, b, c := treeWindowMin, treeWindow, treeWindowCache
	treeWindowMin, treeWindow, treeWindowCache = first, max, cache
	return func() { treeWindowMin, treeWindow, treeWindowCache = a, b, c }
}
