// Package ops holds the operational helpers every command can use around an
// engine operation: preflights (RequireMount, RequireUUID, FreeSpace,
// ChangedBytes, WaitQuiet), the Prometheus textfile (WriteMetrics,
// WriteRunMetrics) and the run log (AppendLog). It imports no engine
// package: it works on paths and plain values.
package ops
