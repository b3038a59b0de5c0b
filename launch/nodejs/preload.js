// clusterd's Node preload (--node-compat), loaded with NODE_OPTIONS=--require.
// It lets a Node app written for PM2 run unchanged under clusterd:
//  - server.listen(3000) serves the socket clusterd opened for port 3000
//    (inherited as fd 3..., LISTEN_FDS), or the only one there is;
//  - http.Server.close() drains without losing a request (docs/design.md §18):
//    Node >= 19 destroys every idle keep-alive connection at once, racing
//    requests already on the wire. Here close stops accepting, answers every
//    later request with "Connection: close", and closes connections that
//    stayed idle only after a grace period.
'use strict';
const net = require('net');
const http = require('http');

// The sockets are ours when LISTEN_PID is our pid, or the pid of the worker
// whose session we are in: a wrapper (npm start) leads the session, and the
// server it starts is the one meant to serve them.
function sessionID() {
  try {
    const stat = require('fs').readFileSync('/proc/self/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3];
  } catch (e) {
    return undefined;
  }
}

const inheritedPorts = (() => {
  const listenPID = String(process.env.LISTEN_PID);
  if (listenPID !== String(process.pid) && listenPID !== sessionID()) return [];
  const ports = (process.env.CLUSTERD_LISTEN_PORTS || '').split(',');
  return ports.map((p, i) => ({ fd: 3 + i, port: Number(p) })).filter((s) => s.port > 0);
})();

function inheritedFd(port) {
  const match = inheritedPorts.find((s) => s.port === Number(port));
  if (match) return match.fd;
  return inheritedPorts.length === 1 ? inheritedPorts[0].fd : undefined;
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const port = first !== null && typeof first === 'object' ? first.port : first;
  const isPort = (typeof port === 'number' || /^\d+$/.test(String(port))) && !(first && first.fd !== undefined);
  const fd = isPort ? inheritedFd(port) : undefined;
  if (fd === undefined) return listen.apply(this, args);
  const callback = args.find((a) => typeof a === 'function');
  return listen.call(this, { fd }, callback);
};

const graceMs = Number(process.env.CLUSTERD_IDLE_GRACE_MS || 1000);
http.Server.prototype.close = function (callback) {
  if (this.clusterdDraining) return net.Server.prototype.close.call(this, callback);
  this.clusterdDraining = true;
  this.prependListener('request', (req, res) => res.setHeader('Connection', 'close'));
  net.Server.prototype.close.call(this, callback);
  setTimeout(() => this.closeIdleConnections(), graceMs).unref();
  return this;
};

// process.send('ready') from a server that a wrapper started (npm start):
// Node gives the IPC channel to the wrapper, which is itself Node, and the
// server has none. The server that serves clusterd's sockets then says it
// is ready on the worker's NOTIFY_FD pipe instead, which it inherited.
if (typeof process.send !== 'function' && inheritedPorts.length > 0 && process.env.NOTIFY_FD) {
  const notifyFD = Number(process.env.NOTIFY_FD);
  process.send = function (message, ...rest) {
    if (message === 'ready') {
      try {
        require('fs').writeSync(notifyFD, 'READY=1\n');
      } catch (e) {
        // The master is gone: nobody waits for it.
      }
    }
    const callback = rest.find((a) => typeof a === 'function');
    if (callback) process.nextTick(callback, null);
    return true;
  };
}

// A package manager as the worker (npm start, yarn start): Node marks the
// descriptors it inherited close-on-exec, so the script it runs would get
// neither clusterd's sockets nor the notify pipe. Here, in the package
// manager, every child it spawns is given them at the same numbers
// (child_process's stdio array: entry i is the child's fd i).
(() => {
  const main = String(process.argv[1] || '');
  if (!/[\/\\](npm|npx|yarn|pnpm)([\/\\]|-cli|\.c?js|$)/.test(main)) return;
  if (String(process.env.LISTEN_PID) !== String(process.pid)) return;
  const last = Math.max(2 + Number(process.env.LISTEN_FDS || 0), Number(process.env.NOTIFY_FD || 0));
  if (last < 3) return;
  const cp = require('child_process');
  const withInherited = (options) => {
    const opts = Object.assign({}, options);
    let stdio = opts.stdio === undefined ? 'pipe' : opts.stdio;
    if (typeof stdio === 'string') stdio = [stdio, stdio, stdio];
    stdio = stdio.slice();
    while (stdio.length < 3) stdio.push('pipe');
    for (let fd = 3; fd <= last; fd++) {
      if (stdio[fd] === undefined || stdio[fd] === null || stdio[fd] === 'ignore') stdio[fd] = fd;
    }
    opts.stdio = stdio;
    return opts;
  };
  const spawn = cp.spawn;
  cp.spawn = function (command, args, options) {
    if (!Array.isArray(args)) return spawn.call(this, command, withInherited(args));
    return spawn.call(this, command, args, withInherited(options));
  };
})();
