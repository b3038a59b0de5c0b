package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/control"
	"github.com/spf13/cobra"
)

// newMonitCommand is the role of `pm2 monit`: the status table, with CPU
// and memory, redrawn in place every --interval until Ctrl-C. Plain ANSI
// (home the cursor, clear to the end) works in any terminal and needs no
// library.
func newMonitCommand() *cobra.Command {
	var interval time.Duration
	cmd := controlCommand(&cobra.Command{
		Use:   "monit",
		Short: "A live view of the workers with CPU and memory, refreshed in place (Ctrl-C quits)",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(quit)
		out := cmd.OutOrStdout()
		clients := []*control.Client{client}
		if others := control.OtherMasters(client.Path); others != nil {
			clients = others // no app named: every app, as pm2 monit shows them
		}
		fmt.Fprint(out, "\x1b[2J")
		for {
			var b bytes.Buffer
			b.WriteString("\x1b[H")
			for i, c := range clients {
				st, err := c.StatusWithUsage()
				if err != nil {
					return err
				}
				if i > 0 {
					b.WriteString("\n")
				}
				st.Render(&b)
			}
			fmt.Fprintf(&b, "\n%s, every %s, Ctrl-C quits\x1b[J", time.Now().Format(time.TimeOnly), interval)
			out.Write(b.Bytes())
			select {
			case <-quit:
				fmt.Fprintln(out)
				return nil
			case <-time.After(interval):
			}
		}
	})
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes")
	return cmd
}
