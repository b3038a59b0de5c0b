// Package faults holds the scenarios where workers die: a crash-prone server (5), restart
// latency (6), a soak of reloads and crashes (8) and kill -9 under load (10). What they
// measure is how much of a fault the manager passes on to clients. Each returns its part of
// the report; bench/suite runs them.
package faults
