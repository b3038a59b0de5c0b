package cli

import (
	"bufio"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/spf13/cobra"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/logcapture"
)

func newLogsCommand() *cobra.Command {
	var lines int
	var follow, asJSON bool
	cmd := controlCommand(&cobra.Command{
		Use:   "logs",
		Short: "Show the workers' latest output lines from a running master",
		Long: `logs prints the newest lines the workers wrote, from the master's memory
(the last 1000 lines), whether or not they also go to log files. With
--follow it then prints every new line until interrupted; if it reads too
slowly, it says how many lines it missed. With no app named and no master
called default, it shows every app's lines (the apps of a config file).`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		if lines < 0 {
			return usageError{Err: fmt.Errorf("--lines must not be negative, got %d", lines)}
		}
		out := bufio.NewWriter(cmd.OutOrStdout())
		defer out.Flush()
		format := logcapture.LogFormat{TimeLayout: logcapture.DefaultTimeFormat, JSON: asJSON}
		var mu sync.Mutex // several apps' streams write here
		var buf []byte
		print := func(msg logcapture.LogMessage) error {
			mu.Lock()
			defer mu.Unlock()
			if msg.Dropped > 0 {
				if asJSON {
					fmt.Fprintf(out, "{\"dropped\":%d}\n", msg.Dropped)
				} else {
					fmt.Fprintf(out, "clusterd: %d lines dropped: this client read too slowly\n", msg.Dropped)
				}
			}
			if msg.Line != nil {
				buf = format.Append(buf[:0], msg.Line)
				out.Write(buf)
			}
			if follow {
				return out.Flush()
			}
			return nil
		}
		others := control.OtherMasters(client.Path)
		if others == nil {
			return client.Logs(lines, follow, print)
		}
		// No app named and no default master: every app's lines, as pm2
		// logs shows them: the newest of each in time order, then with
		// --follow each app's new lines as they come.
		var recent []logcapture.LogMessage
		for _, c := range others {
			if err := c.Logs(lines, false, func(msg logcapture.LogMessage) error {
				recent = append(recent, msg)
				return nil
			}); err != nil {
				return err
			}
		}
		slices.SortStableFunc(recent, func(a, b logcapture.LogMessage) int {
			if a.Line == nil || b.Line == nil {
				return 0
			}
			return a.Line.Time.Compare(b.Line.Time)
		})
		for _, msg := range recent {
			print(msg)
		}
		if !follow {
			return nil
		}
		out.Flush()
		errs := make(chan error, len(others))
		for _, c := range others {
			go func() { errs <- c.Logs(0, true, print) }()
		}
		var err error
		for range others {
			err = errors.Join(err, <-errs)
		}
		return err
	})
	f := cmd.Flags()
	f.IntVarP(&lines, "lines", "n", 15, "how many of the newest lines to show")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func newReopenLogsCommand() *cobra.Command {
	return controlCommand(&cobra.Command{
		Use:   "reopen-logs",
		Short: "Make the master reopen its log files (after logrotate moved them), as SIGUSR1 does",
		Args:  cobra.NoArgs,
	}, func(_ *cobra.Command, client *control.Client, _ []string) error {
		return client.ReopenLogs()
	})
}
