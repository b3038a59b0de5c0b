// A Node app exactly as written for PM2 cluster mode, following PM2's
// graceful start and shutdown docs: it listens on port 3000 (or $PORT), says ready
// with process.send('ready'), and on SIGINT closes its server and exits.
// Under `clusterd --node-compat` it runs without a change.
const http = require('http');

const app = http.createServer((req, res) => {
  res.setHeader('X-Worker-Pid', String(process.pid));
  res.end('hello from pid ' + process.pid + '\n');
});

app.listen(process.env.PORT || 3000, () => {
  process.send('ready');
});

process.on('SIGINT', () => {
  app.close(() => process.exit(0));
});
