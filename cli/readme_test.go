package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestREADMEUsageMatchesCommands keeps the README's usage table and the
// commands' own examples from drifting away from the program: every line
// names a command that exists, and every flag it shows is one that command
// takes.
func TestREADMEUsageMatchesCommands(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	usage := string(raw)
	start := strings.Index(usage, "## Usage")
	block := usage[start:]
	block = block[strings.Index(block, "```")+3:]
	block = block[:strings.Index(block, "```")]
	var lines []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "clusterd") {
			// The description starts after a run of spaces.
			if i := strings.Index(line, "  "); i > 0 {
				line = line[:i]
			}
			lines = append(lines, line)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found %d usage lines in README.md", len(lines))
	}
	root := NewRootCommand()
	root.InitDefaultVersionFlag()
	var examples []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, ex := range strings.Split(c.Example, "\n") {
			if ex = strings.TrimSpace(ex); strings.HasPrefix(ex, "clusterd") {
				examples = append(examples, ex)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	flagRE := regexp.MustCompile(`(?:^|[\s\[])(--?[a-z][\w-]*)`)
	for _, line := range append(lines, examples...) {
		words := strings.Fields(line)[1:]
		cmd, rest, err := root.Find(words)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if cmd == root && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && !strings.HasPrefix(rest[0], "[") &&
			rest[0] != "COMMAND" && !strings.Contains(line, " -- ") {
			// Not a subcommand: the root takes a worker command after its flags.
			t.Logf("%q runs a worker command", line)
		}
		if cmd.DisableFlagParsing {
			continue // it reads its own flags (startup): its help lists them
		}
		// Everything after " -- " belongs to the worker command.
		if i := strings.Index(line, " -- "); i >= 0 {
			line = line[:i]
		}
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			name := strings.TrimLeft(m[1], "-")
			if name == "" || (len(m[1]) == 2 && cmd.Flags().ShorthandLookup(name) != nil) {
				continue
			}
			if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				t.Errorf("%q: %s takes no flag %s", line, cmd.CommandPath(), m[1])
			}
		}
	}
}
