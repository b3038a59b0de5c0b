package control

import (
	"strconv"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/config"
)

// FuzzParseScale feeds the scale command's argument ("N", "+K", "-K") to ParseScale: a
// count it accepts is one the master can run, and an absolute count reads back as itself.
func FuzzParseScale(f *testing.F) {
	for _, seed := range []string{"4", "+1", "-1", "0", "4096", "4097", "+4095", "-4", "max", " 2", "+-1", "9223372036854775807"} {
		f.Add(seed, uint16(4))
	}
	f.Fuzz(func(t *testing.T, arg string, current uint16) {
		n, err := ParseScale(arg, int(current))
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		if n < 1 || n > config.MaxInstances {
			t.Fatalf("ParseScale(%q, %d) = %d, want 1 to %d", arg, current, n, config.MaxInstances)
		}
		if again, err := ParseScale(strconv.Itoa(n), int(current)); again != n || err != nil {
			t.Fatalf("ParseScale(%d) = %d, %v", n, again, err)
		}
	})
}
