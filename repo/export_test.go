package repo

// SameNodesForTest exposes sameNodes to the external tests.
var SameNodesForTest = sameNodes
