// Command clusterd is a pre-fork cluster master with zero-downtime reload.
// See README.md for usage.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	// First, for its init: a process started as the master's exec shim
	// becomes the worker command there, before the rest of this binary
	// initialises (see the package's doc).
	"github.com/clusterd/clusterd/appconfig"
	_ "github.com/clusterd/clusterd/internal/execshim"

	"github.com/clusterd/clusterd/master"
)

// Exit codes: 0 success, 1 the operation failed (a reload aborted, no
// master answering), 2 the command line is wrong.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks mistakes on the command line.
type usageError = appconfig.UsageError

func main() {
	root := newRootCommand()
	root.SetArgs(scaleDownArgs(os.Args[1:]))
	err := root.Execute()
	var workerExit *master.WorkerExit
	if errors.As(err, &workerExit) {
		// No worker left to run: exit as the last one did.
		os.Exit(workerExit.Code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterd: "+err.Error())
		if errors.As(err, new(usageError)) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailure)
	}
}

// scaleDownArgs lets `clusterd scale -2` mean "two fewer": pflag would
// take -2 for a flag, so a negative count moves to the end, after "--".
func scaleDownArgs(args []string) []string {
	for i, a := range args {
		if a == "--" {
			return args
		}
		if a != "scale" {
			continue
		}
		for j := i + 1; j < len(args); j++ {
			if _, err := strconv.Atoi(args[j]); err == nil && strings.HasPrefix(args[j], "-") {
				rest := append(append([]string{}, args[:j]...), args[j+1:]...)
				return append(rest, "--", args[j])
			}
		}
		return args
	}
	return args
}
