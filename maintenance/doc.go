// Package maintenance holds the repository housekeeping that works through
// the engine's public API: forget (grouping and the retention policy, a pure
// function of the snapshot list, then repo.RemoveSnapshots) and copy
// (snapshots and everything they reference into another repository, taking
// the destination's writer lock and the source's reader lock itself).
//
// Prune, check and repair stay in package repo: they share the pending-
// deletion protocol of the lock directory (docs/FORMAT.md §10), the index
// table loader and the pack verification with it, which would otherwise be
// exported for them alone. Prune's repacking policy is still a pure,
// separately tested step there (planRepack).
package maintenance
