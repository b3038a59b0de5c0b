#!/usr/bin/env python3
"""A worker written for systemd, not for clusterd: it insists on the
sd_listen_fds(3) and sd_notify(3) conventions and would refuse to run under a
manager that bends them.

- LISTEN_PID must equal its own pid and LISTEN_FDS must be 1: it serves fd 3.
- It sends READY=1 to NOTIFY_SOCKET (a leading '@' is the abstract namespace),
  unless NEVER_READY=1 (a release that serves but never says so).
- On SIGTERM it stops accepting, answers every further request on open
  keep-alive connections with "Connection: close", waits for its open
  connections to finish, then exits 0: the zero-loss drain of docs/design.md §9.
Standard library only.
"""
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fail(msg):
    sys.stderr.write("strict_worker: " + msg + "\n")
    sys.exit(3)


if os.environ.get("LISTEN_PID") != str(os.getpid()):
    fail("LISTEN_PID=%r is not my pid %d" % (os.environ.get("LISTEN_PID"), os.getpid()))
if os.environ.get("LISTEN_FDS") != "1":
    fail("want LISTEN_FDS=1, got %r" % os.environ.get("LISTEN_FDS"))

draining = threading.Event()
open_connections = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def setup(self):
        global open_connections
        with lock:
            open_connections += 1
        super().setup()

    def finish(self):
        global open_connections
        super().finish()
        with lock:
            open_connections -= 1

    def do_GET(self):
        body = ("hello from python worker pid=%d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Worker-Pid", str(os.getpid()))
        if draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock):
        super().__init__(sock.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock

    def handle_error(self, request, client_address):
        pass  # a client that went away is not our concern


listener = socket.socket(fileno=3)
# The socket comes blocking, as systemd hands it. A server that waits in
# select() and then accepts makes it non-blocking: the workers share the
# socket, and one that lost the race for a connection would otherwise sit in
# accept() and miss its shutdown.
listener.setblocking(False)
server = Server(listener)


def notify(state):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(state.encode())


def on_sigterm(signum, frame):
    draining.set()
    threading.Thread(target=server.shutdown, daemon=True).start()


signal.signal(signal.SIGTERM, on_sigterm)
serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
serving.start()
if os.environ.get("NEVER_READY") != "1":
    notify("READY=1\nSTATUS=serving fd 3")
serving.join()
# Stop accepting: close our copy of the shared socket (the master and the
# other workers keep it open), then wait for open connections to finish.
server.socket.close()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    with lock:
        if open_connections == 0:
            break
    time.sleep(0.01)
sys.exit(0)
