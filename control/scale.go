package control

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/config"
)

// ParseScale reads the scale request's argument (`clusterd scale`'s): N,
// +K or -K, relative to current.
func ParseScale(arg string, current int) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return 0, fmt.Errorf("scale: want N, +K or -K, not %q", arg)
	}
	if strings.HasPrefix(arg, "+") || strings.HasPrefix(arg, "-") {
		n += current
	}
	if n < 1 || n > config.MaxInstances {
		return 0, fmt.Errorf("scale: %q would make %d instances; want 1 to %d", arg, n, config.MaxInstances)
	}
	return n, nil
}
