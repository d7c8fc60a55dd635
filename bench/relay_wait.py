#!/usr/bin/python3
"""Send a corpus with storescu and wait until an Orthanc has N instances.

Starts the given client command (normally storescu) at t0, polls Orthanc's
GET /statistics (CountInstances) on one keep-alive connection every --poll-s,
and prints one line:

    client_wall_s delivered_s client_rc final_count

client_wall_s: t0 -> client exit (the sender saw its last C-STORE-RSP);
delivered_s:   t0 -> first poll that saw CountInstances >= N (-1 on timeout).

    relay_wait.py --url http://127.0.0.1:8042/statistics --count 2000 \
        --timeout-s 300 -- storescu -aec GATEWAY 127.0.0.1 11112 +sd +r +sp '*.dcm' DIR
"""
import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="Orthanc /statistics URL")
    ap.add_argument("--count", type=int, required=True, help="instances to wait for")
    ap.add_argument("--timeout-s", type=float, default=600.0)
    ap.add_argument("--poll-s", type=float, default=0.05)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("missing client command")
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

    def count():
        nonlocal conn
        try:
            conn.request("GET", u.path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                return -1
            return int(json.loads(body)["CountInstances"])
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            return -1

    t0 = time.monotonic()
    client = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exited = {}

    def reap():
        exited["rc"] = client.wait()
        exited["t"] = time.monotonic() - t0

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    delivered = -1.0
    n = -1
    while True:
        now = time.monotonic()
        n = count()
        if n >= a.count:
            delivered = time.monotonic() - t0
            break
        if now - t0 > a.timeout_s:
            break
        time.sleep(a.poll_s)
    waiter.join(max(1.0, a.timeout_s - (time.monotonic() - t0)))
    if "rc" not in exited:
        client.kill()
        waiter.join()
    print("%.4f %.4f %d %d" % (exited["t"], delivered, exited["rc"], n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
