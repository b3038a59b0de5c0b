// A Node server written for PM2 cluster mode, as PM2's docs show it: it
// says it is ready with process.send('ready') and stops on the message
// 'shutdown' (shutdown_with_message). Under clusterd it serves the
// inherited fd 3. Its drain is the zero-loss one of docs/design.md §18 (as in
// examples/node/server.js): stop accepting, answer later requests with
// Connection: close, close idle connections only after a grace.
const http = require('http');
const net = require('net');

let draining = false;
const server = http.createServer((req, res) => {
  res.setHeader('X-Worker-Pid', String(process.pid));
  if (draining) res.setHeader('Connection', 'close');
  res.end('hello from node worker pid=' + process.pid + '\n');
});
server.keepAliveTimeout = 60000;

server.listen({ fd: 3 }, () => process.send('ready'));

process.on('message', (msg) => {
  if (msg !== 'shutdown' || draining) return;
  console.log('got the shutdown message');
  draining = true;
  net.Server.prototype.close.call(server, () => process.exit(0));
  setTimeout(() => server.closeIdleConnections(), 1000);
  process.channel.unref();
});
process.on('SIGTERM', () => {
  console.log('got SIGTERM');
  process.exit(143);
});
