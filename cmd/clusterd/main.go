// Command clusterd is a pre-fork cluster master with zero-downtime reload.
// See README.md for usage; the command tree is package cli.
package main

import (
	"errors"
	"fmt"
	"os"

	// For its init, which runs before that of cobra and the rest: a process
	// started as the master's exec shim becomes the worker command there
	// (see the package's doc).
	_ "github.com/clusterd/clusterd/internal/execshim"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/cli"
	"github.com/clusterd/clusterd/restart"
)

// Exit codes: 0 success, 1 the operation failed (a reload aborted, no
// master answering), 2 the command line is wrong.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	err := cli.Execute(os.Args[1:])
	var workerExit *restart.WorkerExit
	if errors.As(err, &workerExit) {
		// No worker left to run: exit as the last one did.
		os.Exit(workerExit.Code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterd: "+err.Error())
		if errors.As(err, new(appconfig.UsageError)) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailure)
	}
}
