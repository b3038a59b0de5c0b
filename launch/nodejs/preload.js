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
