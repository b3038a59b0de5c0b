#!/usr/bin/env python3
"""A worker that cannot send READY=1 (no sd_notify in its runtime): it
serves every socket it inherits (LISTEN_FDS from fd 3, the health socket
among them) and nothing else. --ready-on-health makes it ready."""
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock):
        super().__init__(("", 0), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


threads = []
for fd in range(3, 3 + int(os.environ.get("LISTEN_FDS", "0"))):
    server = Server(socket.socket(fileno=fd))
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    threads.append(t)
for t in threads:
    t.join()
