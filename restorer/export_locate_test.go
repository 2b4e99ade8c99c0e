package restorer

// SetLocateGroup sets locateGroup for one test.
func SetLocateGroup(n int) func() {
	old := locateGroup
	locateGroup = n
	return func() { locateGroup = old }
}
