// Package notify is the master's end of the channels a worker reports on:
// sd_notify(3)'s datagram socket (NOTIFY_SOCKET, abstract, so nothing is
// left on disk) and pipe (NOTIFY_FD), and the Node IPC channel PM2 apps send
// 'ready' on (NODE_CHANNEL_FD). Every worker has endpoints of its own, and a
// datagram counts only when its sender belongs to the worker, so one worker
// can never report for another (docs/design.md §6).
package notify
