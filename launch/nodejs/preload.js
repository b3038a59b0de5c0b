// clusterd's Node preload (--node-compat), loaded with NODE_OPTIONS=--require.
// It lets a Node app written for PM2 run unchanged under clusterd:
//  - process.send('ready') and process.on('message') work on a channel to
//    the master, in the process that serves, even behind `npm start`;
//  - server.listen(3000) serves the socket clusterd opened for port 3000
//    (inherited as fd 3..., LISTEN_FDS), or the only one there is; with no
//    socket of clusterd's, it asks the master for one, as a worker of Node's
//    cluster module asks its primary: the master opens the address once and
//    every worker (and every reload's) serves that same socket;
//  - http.Server.close() drains without losing a request (docs/design.md §18):
//    Node >= 19 destroys every idle keep-alive connection at once, racing
//    requests already on the wire. Here close stops accepting, answers every
//    later request with "Connection: close", and closes connections that
//    stayed idle only after a grace period.
'use strict';
const net = require('net');
const http = require('http');
const fs = require('fs');

// The sockets are ours when LISTEN_PID is our pid, or the pid of the worker
// whose session we are in: a wrapper (npm start) leads the session, and the
// server it starts is the one meant to serve them.
function sessionID() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3];
  } catch (e) {
    return undefined;
  }
}

const listenPID = String(process.env.LISTEN_PID);
const inWorker = listenPID === String(process.pid) || listenPID === sessionID();
const packageManager = /[\/\\](npm|npx|yarn|pnpm)([\/\\]|-cli|\.c?js|$)/.test(String(process.argv[1] || ''));

const inheritedPorts = (() => {
  if (!inWorker) return [];
  const ports = (process.env.CLUSTERD_LISTEN_PORTS || '').split(',');
  return ports.map((p, i) => ({ fd: 3 + i, port: Number(p) })).filter((s) => s.port > 0);
})();

function inheritedFd(port) {
  const match = inheritedPorts.find((s) => s.port === Number(port));
  if (match) return match.fd;
  return inheritedPorts.length === 1 ? inheritedPorts[0].fd : undefined;
}

// The channel to the master (CLUSTERD_NODE_CHANNEL_FD, see launch's
// PreloadChannelVar) is claimed here, as Node claims NODE_CHANNEL_FD, by the
// process that serves: not by a package manager, which passes it on to the
// script it runs. Taking the variable out keeps this process's own children
// from claiming it too.
const ownChannel = (() => {
  const fd = Number(process.env.CLUSTERD_NODE_CHANNEL_FD);
  if (!(fd > 2) || !inWorker || packageManager || typeof process.send === 'function') return false;
  try {
    if (!fs.fstatSync(fd).isSocket()) return false;
    delete process.env.CLUSTERD_NODE_CHANNEL_FD;
    require('child_process')._forkChild(fd, 'json');
    return typeof process.send === 'function';
  } catch (e) {
    return false;
  }
})();

// What listen(...) asks for, in Node's own argument forms: (port, host,
// backlog, callback), (options, callback), () for any port. null for what
// is not a TCP port (a path, a handle, an fd) and for exclusive: true,
// which Node's cluster also leaves to the worker.
function tcpListenArgs(args) {
  const last = args[args.length - 1];
  const callback = typeof last === 'function' ? last : undefined;
  const first = args[0];
  const portLike = (p) => typeof p === 'number' || (typeof p === 'string' && /^\d+$/.test(p));
  if (first === undefined || first === null || typeof first === 'function') return { port: 0, callback };
  if (typeof first === 'object') {
    if (first.fd !== undefined || first.handle !== undefined || first._handle !== undefined || first.path !== undefined) return null;
    if (first.exclusive) return null;
    if (first.port !== undefined && !portLike(first.port)) return null;
    return { port: Number(first.port || 0), host: first.host || undefined, backlog: first.backlog, callback };
  }
  if (!portLike(first)) return null;
  const rest = args.slice(1, callback ? -1 : undefined);
  const host = rest.find((a) => typeof a === 'string');
  const backlog = rest.find((a) => typeof a === 'number');
  return { port: Number(first), host, backlog, callback };
}

// Answers of the master to listen requests, by request number.
const pendingListens = new Map();
let listenSeq = 0;
if (ownChannel) {
  process.on('internalMessage', (msg, handle) => {
    if (!msg || msg.cmd !== 'NODE_CLUSTERD_LISTEN') return;
    const answer = pendingListens.get(msg.seq);
    pendingListens.delete(msg.seq);
    if (answer) answer(msg, handle);
    else if (handle) handle.close();
  });
}

// askMaster is Node's cluster worker's listen: the socket comes from the
// master, and errors arrive as the server's 'error' event, as they would
// from a bind here.
function askMaster(server, want) {
  const ask = (host) => {
    const seq = ++listenSeq;
    // The channel does not keep the process alive; a server waiting for
    // its socket must.
    const waiting = setInterval(() => {}, 1 << 30);
    pendingListens.set(seq, (msg, handle) => {
      clearInterval(waiting);
      if (handle) {
        const args = [handle];
        if (want.backlog !== undefined) args.push(want.backlog);
        if (want.callback) args.push(want.callback);
        listen.apply(server, args);
        return;
      }
      const err = new Error(`listen ${msg.code}: ${msg.error}`);
      Object.assign(err, { code: msg.code, syscall: 'listen', address: host || '::', port: want.port });
      server.emit('error', err);
    });
    process.send({ cmd: 'NODE_CLUSTERD_LISTEN', seq, host: host || '', port: want.port });
  };
  if (!want.host || net.isIP(want.host)) {
    process.nextTick(ask, want.host);
    return server;
  }
  require('dns').lookup(want.host, (err, address) => {
    if (err) server.emit('error', err);
    else ask(address);
  });
  return server;
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const want = tcpListenArgs(args);
  if (want === null) return listen.apply(this, args);
  const fd = inheritedFd(want.port);
  if (fd !== undefined) return listen.call(this, { fd }, want.callback);
  if (ownChannel && process.connected) return askMaster(this, want);
  return listen.apply(this, args);
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
        fs.writeSync(notifyFD, 'READY=1\n');
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
  if (!packageManager) return;
  if (listenPID !== String(process.pid)) return;
  const last = Math.max(2 + Number(process.env.LISTEN_FDS || 0), Number(process.env.NOTIFY_FD || 0),
    Number(process.env.CLUSTERD_NODE_CHANNEL_FD || 0));
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
