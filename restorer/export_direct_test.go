package restorer

// SetLentHook sets testHookLent for one test and returns the function
// restoring it.
func SetLentHook(hook func()) func() {
	old := testHookLent
	testHookLent = hook
	return func() { testHookLent = old }
}
