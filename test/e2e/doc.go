// Package e2e runs the skein binary as a separate process and drives it the
// way clients and operators do: franz-go clients, raw wire bytes, SIGKILL and
// restarts on the same data directory. The tests are process-level fault
// tests (layer 5 of the testing pyramid); they build the binary once per test
// binary in TestMain.
package e2e
