# Focused paired run for docs/design.md §17 (bench/README.md, "Issue 15"):
#   python3 bench/focused/gomaxprocs.py bin/clusterd [ROUNDS] [--setsid]
# With --setsid the fourth target is the bare pair with each worker in a session of its own.
# clusterd -i 2 demo (workers take their CPU
# share: GOMAXPROCS=1 on 2 CPUs) vs the same with GOMAXPROCS=2 for every worker (the old
# default) vs two bare `clusterd demo` on one inherited socket (default GOMAXPROCS), and the
# bare pair with GOMAXPROCS=1. wrk -t2 -c64, 4s, keep-alive and Connection: close, rounds
# rotate the order. Every process is started here and stopped by PID.
import os, socket, subprocess, time, re, statistics, sys, json
BIN = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 5
procs = []
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def wait_up(port):
    for _ in range(300):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1); c.close(); return
        except OSError: time.sleep(0.1)
    raise SystemExit("no answer on %d" % port)
def clusterd(extra_env):
    port = free()
    env = dict(os.environ, **extra_env)
    p = subprocess.Popen([BIN, "-i", "2", "--wait-ready", "-l", "127.0.0.1:%d" % port, "--control", "/tmp/clusterd-gomaxprocs-%d.sock" % port, "--", BIN, "demo"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p); wait_up(port); time.sleep(2); return port
def bare_pair(extra_env, own_session=False):
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 0)); ls.listen(4096)
    port = ls.getsockname()[1]
    os.set_inheritable(ls.fileno(), True)
    for _ in range(2):
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="http", **extra_env)
        p = subprocess.Popen(["sh", "-c", 'exec 3>&%d; LISTEN_PID=$$ exec "$@"' % ls.fileno(), "sh", BIN, "demo"], env=env,
                             pass_fds=(ls.fileno(),), start_new_session=own_session, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
    ls.close(); wait_up(port); time.sleep(2); return port
targets = {}
try:
    targets["clusterd -i 2 (default: CPU share)"] = clusterd({})
    targets["clusterd -i 2, GOMAXPROCS=2"] = clusterd({"GOMAXPROCS": "2"})
    targets["bare pair"] = bare_pair({})
    if "--setsid" in sys.argv:
        targets["bare pair, each worker setsid"] = bare_pair({}, True)
    else:
        targets["bare pair, GOMAXPROCS=1"] = bare_pair({"GOMAXPROCS": "1"})
    res = {}
    names = list(targets)
    for r in range(ROUNDS):
        for load, hdr in (("keep-alive", []), ("connection-close", ["-H", "Connection: close"])):
            for k in range(len(names)):
                n = names[(k + r) % len(names)]
                out = subprocess.run(["wrk", "-t2", "-c64", "-d4s"] + hdr + ["http://127.0.0.1:%d/" % targets[n]], capture_output=True, text=True).stdout
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                res.setdefault(load, {}).setdefault(n, []).append(rps)
        print("round", r + 1, json.dumps({l: {n: v[-1] for n, v in d.items()} for l, d in res.items()}), flush=True)
    for load, d in res.items():
        base = names[2]
        for n in names:
            ratios = [a / b for a, b in zip(d[n], d[base])]
            old = [a / b for a, b in zip(d[names[0]], d[names[1]])]
            print("%-17s %-36s / bare pair: median %.2f (%.2f-%.2f)" % (load, n, statistics.median(ratios), min(ratios), max(ratios)))
        old = [a / b for a, b in zip(d[names[0]], d[names[1]])]
        print("%-17s default / GOMAXPROCS=2: median %.2f (%.2f-%.2f)" % (load, statistics.median(old), min(old), max(old)))
        g = [a / b for a, b in zip(d[names[0]], d[names[3]])]
        print("%-17s default / " + names[3] + ": median %.2f (%.2f-%.2f)" % (load, statistics.median(g), min(g), max(g)))
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try: p.wait(10)
        except Exception: p.kill()
