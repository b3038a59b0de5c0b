// Package control is the master's control socket: the protocol (one JSON
// line each way, then, for logs, a stream of lines), the server side that
// accepts connections from the master's own user only, the client the CLI
// uses, and the status table people read.
//
// It knows nothing of how a master works: a master answers requests
// through the handler it gives Serve, and fills in a Status.
package control
