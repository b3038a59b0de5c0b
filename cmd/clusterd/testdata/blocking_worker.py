"""A worker written for systemd socket activation, and nothing else.

It takes fd 3 as Python makes it (socket.socket(fileno=3) keeps the
descriptor's blocking mode), accepts in a plain blocking loop, answers one
request per connection and says READY=1 on NOTIFY_SOCKET. Handed a
non-blocking socket, its first accept() with no connection waiting raises
BlockingIOError and it dies: the case this worker exists to test.

SIGTERM: finish the connection in hand and the next one accepted, then
exit. A plain blocking accept() cannot be woken safely (a handler that
exits while accept() has just returned would drop that connection), so a
worker stopped while idle waits in accept() for one more connection or for
the kill timeout's SIGKILL, which then costs nothing.
"""
import os
import signal
import socket

listener = socket.socket(fileno=3)
stopping = False


def on_sigterm(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)


def notify(state):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(state.encode())


def serve(conn):
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    body = b"blocking worker %d\n" % os.getpid()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


notify("READY=1\nSTATUS=accepting on a blocking fd 3")
while not stopping:
    conn, _ = listener.accept()
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()
