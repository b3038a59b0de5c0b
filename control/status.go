package control

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is what `clusterd status` shows; --json prints it as is.
type Status struct {
	Name       string   `json:"name"`
	PID        int      `json:"pid"`
	Command    []string `json:"command"`
	Generation int      `json:"generation"`
	Instances  int      `json:"instances"`
	// InstancesFrom says where -i max's count came from (the CPUs, or a
	// cgroup's CPU quota); empty for a number given.
	InstancesFrom string `json:"instances_from,omitempty"`
	// Version is the master's own (clusterd --version).
	Version string `json:"version"`
	// Namespace is the app's PM2 namespace ("" for none).
	Namespace string         `json:"namespace,omitempty"`
	Listeners []string       `json:"listeners"`
	Metrics   string         `json:"metrics,omitempty"` // the --metrics address
	StartedAt time.Time      `json:"started_at"`
	Stopping  bool           `json:"stopping"`
	Workers   []WorkerStatus `json:"workers"`
	Reload    ReloadStatus   `json:"reload"`

	// Dir is the workers' working directory (empty: the master's);
	// LogFiles are the files their lines go to (clusterd flush truncates
	// them).
	Dir      string   `json:"dir,omitempty"`
	LogFiles []string `json:"log_files,omitempty"`

	// SocketModes[i] is how Listeners[i] is served: "reuseport+steering",
	// "reuseport" or "shared", with the reason after a colon where
	// steering was wanted and is not done.
	SocketModes []string `json:"socket_modes,omitempty"`
}

// WorkerStatus describes one slot's worker, or a worker on its way in or
// out (a reload's successor, a worker draining).
type WorkerStatus struct {
	Slot       int       `json:"slot"`
	PID        int       `json:"pid,omitempty"`
	State      string    `json:"state"` // starting, ready, stopping, restarting, errored, stopped
	Generation int       `json:"generation"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	Uptime     Duration  `json:"uptime"`
	Restarts   int       `json:"restarts"`
	// MemoryRestarts and HealthRestarts count rolling replacements for
	// --max-memory-restart and failed health checks.
	MemoryRestarts int `json:"memory_restarts,omitempty"`
	HealthRestarts int `json:"health_restarts,omitempty"`
	// RSSBytes and CPUPercent are sampled when the status is asked for
	// with --usage (ls and monit always ask): CPU over a short window, as
	// top shows it (100 = one CPU). Unsampled, they are absent, never a
	// false zero.
	RSSBytes   int64    `json:"rss_bytes,omitempty"`
	CPUPercent *float64 `json:"cpu_percent,omitempty"`
	LastExit   string   `json:"last_exit,omitempty"`
	RetryIn    Duration `json:"retry_in,omitzero"`
	Message    string   `json:"message,omitempty"` // the worker's STATUS=
	Successor  bool     `json:"successor,omitempty"`
}

// ReloadStatus says whether a reload runs and how the last one ended.
type ReloadStatus struct {
	InProgress bool           `json:"in_progress"`
	Queued     bool           `json:"queued"`
	Last       *ReloadOutcome `json:"last,omitempty"`
}

// ReloadOutcome is the result of one rolling reload.
type ReloadOutcome struct {
	Outcome    string    `json:"outcome"` // succeeded or aborted
	Reason     string    `json:"reason,omitempty"`
	Generation int       `json:"generation"`
	StartedAt  time.Time `json:"started_at"`
	Duration   Duration  `json:"duration"`
	// NotApplied names the re-read configuration's changes that only a
	// restart of the master applies (listen, log files, ...).
	NotApplied []string `json:"not_applied,omitempty"`
}

// Duration is a time.Duration that reads "1.5s" in JSON, for people and jq.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// WorkerPID is the pid of the app's worker in slot (its slot's own, not a
// reload's successor).
func (st *Status) WorkerPID(slot int) (int, error) {
	for _, w := range st.Workers {
		if w.Slot == slot && !w.Successor && w.PID != 0 {
			return w.PID, nil
		}
	}
	return 0, fmt.Errorf("app %s has no worker in slot %d (clusterd ls)", st.Name, slot)
}

// Render writes the status as a table for people.
func (st *Status) Render(out io.Writer) error {
	var b strings.Builder
	listeners := slices.Clone(st.Listeners)
	for i, mode := range st.SocketModes {
		if i < len(listeners) {
			listeners[i] += " (" + mode + ")"
		}
	}
	listening := "listening on " + strings.Join(listeners, ", ")
	if len(st.Listeners) == 0 {
		listening = "no sockets"
	}
	fmt.Fprintf(&b, "%s: master pid %d, up %s, generation %d, %d instances, %s\n",
		st.Name, st.PID, roundUptime(time.Since(st.StartedAt)), st.Generation, st.Instances, listening)
	fmt.Fprintf(&b, "command: %s\n", strings.Join(st.Command, " "))
	if st.InstancesFrom != "" {
		fmt.Fprintf(&b, "instances: %d from -i %s\n", st.Instances, st.InstancesFrom)
	}
	if st.Stopping {
		b.WriteString("the master is stopping\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tPID\tSTATE\tUPTIME\tCPU\tMEMORY\tRESTARTS\tGEN\tLAST EXIT")
	for _, w := range st.Workers {
		pid, uptime, state, cpu, mem := "-", "-", w.State, "-", "-"
		if w.PID != 0 {
			pid, uptime = fmt.Sprint(w.PID), roundUptime(time.Duration(w.Uptime))
		}
		if w.CPUPercent != nil {
			cpu = fmt.Sprintf("%.0f%%", *w.CPUPercent)
		}
		if w.RSSBytes > 0 {
			mem = fmt.Sprintf("%.1f MiB", float64(w.RSSBytes)/(1<<20))
		}
		if w.Successor {
			state += " (new)"
		}
		if w.RetryIn > 0 {
			state += " in " + w.RetryIn.String()
		}
		if w.Message != "" {
			state += ": " + w.Message
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", w.Slot, pid, state, uptime, cpu, mem, w.Restarts, w.Generation, OrDash(w.LastExit))
	}
	tw.Flush()
	switch r := st.Reload; {
	case r.InProgress:
		b.WriteString("reload: in progress\n")
	case r.Last != nil:
		fmt.Fprintf(&b, "last reload: %s %s ago (generation %d, took %s)", r.Last.Outcome,
			roundUptime(time.Since(r.Last.StartedAt)), r.Last.Generation, time.Duration(r.Last.Duration).Round(time.Millisecond))
		if r.Last.Reason != "" {
			fmt.Fprintf(&b, ": %s", r.Last.Reason)
		}
		b.WriteString("\n")
		if len(r.Last.NotApplied) > 0 {
			fmt.Fprintf(&b, "not applied until the master restarts: %s\n", strings.Join(r.Last.NotApplied, ", "))
		}
	default:
		b.WriteString("last reload: none\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func roundUptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// OrDash is s, or "-" for nothing, as the status tables show an empty cell.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// MaxMessageRunes bounds a worker's STATUS= as status shows it.
const MaxMessageRunes = 200

// Printable is s as an operator's terminal may show it: control characters
// (an escape sequence would drive the terminal) become U+FFFD, and at most
// max runes are kept. What a worker says reaches status through it.
func Printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
