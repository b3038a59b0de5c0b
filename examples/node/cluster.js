'use strict';
// Node's own cluster module running server.js: the third way the bench runs the same server
// (beside clusterd and PM2). The primary accepts every connection and hands it to a worker,
// round robin (Node's default on Linux), as PM2's cluster mode does, but with no daemon and
// no process manager around it.
//
// Environment: WORKERS (default: one per CPU), plus server.js's own (PORT, HOST, ...).
// When NOTIFY_FD is set (the bench sets it), the primary writes "READY=1" on it once every
// worker has said 'ready'. SIGTERM/SIGINT stop the workers (each drains) and then the primary.
const cluster = require('cluster');
const fs = require('fs');
const os = require('os');
const path = require('path');

const workers = Number(process.env.WORKERS || os.availableParallelism());
// The notify pipe is the primary's alone: a worker does not inherit the descriptor.
const notifyFd = Number(process.env.NOTIFY_FD);
delete process.env.NOTIFY_FD;

cluster.setupPrimary({ exec: path.join(__dirname, 'server.js') });

let readyCount = 0;
let stopping = false;
cluster.on('message', (worker, message) => {
  if (message === 'ready' && ++readyCount === workers) {
    if (Number.isInteger(notifyFd) && notifyFd > 2) fs.writeSync(notifyFd, 'READY=1\n');
    console.log(`cluster.js: ${workers} workers ready`);
  }
});
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) {
    cluster.fork(); // a crashed worker is replaced at once
  } else if (Object.keys(cluster.workers).length === 0) {
    process.exit(0);
  }
});
for (let i = 0; i < workers; i++) cluster.fork();

function stop() {
  if (stopping) return;
  stopping = true;
  const live = Object.values(cluster.workers);
  if (live.length === 0) process.exit(0);
  for (const worker of live) worker.process.kill('SIGTERM');
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
