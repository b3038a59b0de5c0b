'use strict';
// A plain Node HTTP server written the PM2 way (process.send('ready') once listening) that
// also runs under clusterd unchanged: when clusterd starts it, it serves the inherited
// socket (fd 3, LISTEN_FDS/LISTEN_PID as in sd_listen_fds(3)) and reports readiness with a
// "READY=1" line on the pipe in NOTIFY_FD. Without either it listens on HOST:PORT itself.
//
// The bench runs this one file under clusterd, `pm2 start -i max` and Node's cluster module
// (cluster.js beside it), so the managers are compared on the same server.
//
// Environment:
//   PORT, HOST        where to listen when not given a socket (default 127.0.0.1:3000)
//   CRASH_RATE        probability that a request kills the process without an answer
//                     (exit 70), the crash-prone server of the bench; default 0
//   DRAIN_TIMEOUT_MS  how long SIGTERM/SIGINT may wait for open connections; default 5000
//   IDLE_GRACE_MS     how long idle keep-alive connections stay open after the stop signal
//                     before they are closed; default 1000
//   LINGER_MS         how long the process stays after it stopped accepting, even with no
//                     connection left; default 500 in a cluster worker (PM2, cluster.js), else 0
//
// Every response carries X-Worker-Pid, so a load generator can tell workers apart.
const cluster = require('cluster');
const http = require('http');
const net = require('net');
const fs = require('fs');

const crashRate = Number(process.env.CRASH_RATE || 0);
const drainTimeoutMs = Number(process.env.DRAIN_TIMEOUT_MS || 5000);
const idleGraceMs = Number(process.env.IDLE_GRACE_MS || 1000);
const lingerMs = Number(process.env.LINGER_MS || (cluster.isWorker ? 500 : 0));
if (!(crashRate >= 0 && crashRate <= 1)) {
  console.error(`server.js: CRASH_RATE must be between 0 and 1, got ${process.env.CRASH_RATE}`);
  process.exit(2);
}

const pid = String(process.pid);
const hello = `hello from worker pid=${pid}\n`;
let draining = false;
let lingered = false; // stopped accepting at least lingerMs ago

const server = http.createServer((req, res) => {
  if (crashRate > 0 && Math.random() < crashRate) {
    process.exit(70); // no answer: the request in flight fails, as in a real crash
  }
  res.setHeader('X-Worker-Pid', pid);
  res.setHeader('Content-Type', 'text/plain');
  if (draining) {
    // Node closes the connection after this response; the client opens a new one, which
    // lands on a worker that still accepts.
    res.setHeader('Connection', 'close');
  }
  res.end(hello);
});
// Keep-alive connections of a benchmark client may pause; Node's default of 5 s would
// close them under the client's feet between runs.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;

// Every open connection, so the drain knows when it is done.
const connections = new Set();
server.on('connection', (socket) => {
  connections.add(socket);
  socket.on('close', () => {
    connections.delete(socket);
    if (lingered && connections.size === 0) process.exit(0);
  });
});

function ready() {
  // clusterd (and systemd-style supervisors that give a pipe) read a line on NOTIFY_FD.
  const notifyFd = Number(process.env.NOTIFY_FD);
  if (Number.isInteger(notifyFd) && notifyFd > 2) {
    fs.writeSync(notifyFd, 'READY=1\n');
  }
  // PM2 (--wait-ready) and Node's cluster module listen on the IPC channel.
  if (typeof process.send === 'function') {
    process.send('ready');
  }
}

const listenFds = Number(process.env.LISTEN_FDS || 0);
if (listenFds >= 1 && process.env.LISTEN_PID === pid) {
  // Started by clusterd: fd 3 is the shared listening socket. Not for our children.
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  server.listen({ fd: 3 }, ready);
} else {
  server.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1', ready);
}

// Drain without losing a request (docs/design.md §18). http.Server.close() in Node >= 19
// destroys every idle keep-alive connection at once, racing requests the client has already
// sent on them. Instead: stop accepting (net.Server's close, which leaves open connections
// alone), answer every later request with Connection: close, and only after a grace period
// close the connections that stayed idle. Exit once no connection is left.
//
// In a cluster worker (PM2's cluster mode, cluster.js) the primary accepts the connections
// and passes them over IPC: one it sent just before it learnt that this worker stopped
// accepting is still on its way, and if this process is gone when it arrives, that
// connection is never answered (measured: 8 timeouts in 6 `pm2 reload`s under connection
// churn). Staying lingerMs longer lets the worker hand such a connection back to the
// primary. A worker on a shared socket (clusterd) has nothing in flight once it has closed
// its descriptor.
function drain() {
  if (draining) {
    process.exit(1); // a second signal: stop waiting
  }
  draining = true;
  net.Server.prototype.close.call(server);
  setTimeout(() => {
    lingered = true;
    if (connections.size === 0) process.exit(0);
  }, lingerMs);
  setTimeout(() => server.closeIdleConnections(), idleGraceMs);
  setTimeout(() => process.exit(0), drainTimeoutMs);
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
