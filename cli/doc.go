// Package cli is clusterd's command line: the cobra command tree, from the
// root command that starts a master (flags and config files, through
// appconfig) to the verbs that talk to running masters over their control
// sockets (status, reload, scale, logs, and PM2's ls, restart, save,
// resurrect and the rest) and the one that writes a file (startup's systemd
// unit; the man pages are internal/genman's, outside the binary). Running
// masters is package process's job; the CLI builds their configurations and
// waits for the outcome.
//
// cmd/clusterd is only its main: Execute, then an exit code for the error.
package cli
