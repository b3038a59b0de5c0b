package cli

import (
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/appconfig"
)

// Execute runs the clusterd command line args (without the program's name)
// and returns what went wrong. An appconfig.UsageError is a mistake on the
// command line; a *restart.WorkerExit says the last worker exited and with
// which code (--no-autorestart, --stop-exit-codes). The caller maps these
// to exit codes.
func Execute(args []string) error {
	root := NewRootCommand()
	root.SetArgs(scaleDownArgs(args))
	return root.Execute()
}

// usageError marks mistakes on the command line.
type usageError = appconfig.UsageError

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
