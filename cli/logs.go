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
	var follow, asJSON, onlyOut, onlyErr, raw bool
	cmd := controlCommand(&cobra.Command{
		Use:   "logs",
		Short: "Show the workers' latest output lines from a running master",
		Long: `logs prints the newest lines the workers wrote: from the app's log files
when it has some (as pm2 logs does: they hold what the master's memory lost
in a restart), else from the master's memory (the last 1000 lines). With
--follow it then prints every new line until interrupted; if it reads too
slowly, it says how many lines it missed. With no app named and no master
called default, it shows every app's lines (the apps of a config file).`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		if lines < 0 {
			return usageError{Err: fmt.Errorf("--lines must not be negative, got %d", lines)}
		}
		if onlyOut && onlyErr {
			return usageError{Err: errors.New("--out and --err: choose one (neither shows both)")}
		}
		keep := func(l *logcapture.LogLine) bool {
			return (!onlyOut || l.Stream == "out") && (!onlyErr || l.Stream == "err")
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
			switch {
			case msg.Line == nil || !keep(msg.Line):
			case raw:
				out.WriteString(msg.Line.Line + "\n")
			default:
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
			if st, err := client.Status(); err == nil && len(st.LogFiles) > 0 {
				if history, err := fileHistory(st.LogFiles, lines, keep); err == nil {
					for i := range history {
						print(logcapture.LogMessage{Line: &history[i]})
					}
					if !follow {
						return nil
					}
					out.Flush()
					return client.Logs(0, true, print)
				}
			}
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
	f.BoolVar(&onlyOut, "out", false, "only what the workers wrote to stdout")
	f.BoolVar(&onlyErr, "err", false, "only what the workers wrote to stderr")
	f.BoolVar(&raw, "raw", false, "only the workers' text, without time, app, slot and pid")
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

// fileHistory is the last n lines that keep accepts of an app's log files,
// read back from them (a line in the combined file and in the stream's own
// is shown once), in time order where the files say the time.
func fileHistory(files []string, n int, keep func(*logcapture.LogLine) bool) ([]logcapture.LogLine, error) {
	var all []logcapture.LogLine
	seen := map[logcapture.LogLine]bool{}
	read := 0
	for _, file := range files {
		// Filtering may drop most of a file's tail: read further back.
		lines, err := logcapture.ReadHistory(file, n*10, logcapture.DefaultTimeFormat)
		if err != nil {
			continue // rotated away, or not ours to read: the others may do
		}
		read++
		for _, l := range lines {
			if keep(&l) && !seen[l] {
				seen[l] = true
				all = append(all, l)
			}
		}
	}
	if read == 0 {
		return nil, errors.New("no log file could be read")
	}
	slices.SortStableFunc(all, func(a, b logcapture.LogLine) int {
		if a.Time.IsZero() || b.Time.IsZero() {
			return 0
		}
		return a.Time.Compare(b.Time)
	})
	return all[max(len(all)-n, 0):], nil
}
