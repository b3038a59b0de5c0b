// Package appconfig turns what the user says into master configurations:
// the master's flags (each with a value type that reads as PM2 does:
// durations in milliseconds or Go's spelling, sizes such as 200M, -i max),
// and a config file's apps read through appfile, each field set through the
// flag of the same name, so the file and the command line cannot read a
// value differently, and the command line's flags win over the file's.
package appconfig

// UsageError marks a mistake on the command line (exit code 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }
