//go:build !linux

package main

// writePeakRSS: only Linux reports a process's own peak (peakrss_linux.go).
func writePeakRSS(string) {}
