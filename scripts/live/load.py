"""A bounded load generator for the live loop: sends prediction requests to a
loopback URL at a fixed rate, for at most a fixed count and duration, then
stops by itself.

    python load.py --url http://127.0.0.1:PORT/invocations \
        --requests 3000 --duration 30 --rate 100 [--concurrency 8] [--out FILE]

Each request carries one row of four features drawn from a fixed seed (f0
uniform in [-1, 1], so about a third of rows have f0 > 0.33, the rows the
`bad` model of train.py fails on). With --out, one JSON line per request:
`{"t": ms since start (sent), "at": the same as Unix seconds, "ms": latency, "status": code or 0 when the
connection failed, "version": the x-modelops-version header or null}`.
At the end it prints a summary line per answering version and the failures.
SIGTERM or SIGINT ends it early; the requests sent so far are still written.
"""

import argparse
import http.client
import json
import random
import signal
import sys
import threading
import time
import urllib.parse

VERSION_HEADER = "x-modelops-version"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--requests", type=int, required=True, help="at most this many requests")
    p.add_argument("--duration", type=float, required=True, help="at most this many seconds")
    p.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="write one JSON line per request here")
    a = p.parse_args()
    url = urllib.parse.urlsplit(a.url)
    if url.scheme != "http" or url.hostname not in LOOPBACK:
        sys.exit(f"load.py sends to loopback http:// URLs only, not {a.url!r}")
    if not (0 < a.requests <= 1_000_000 and 0 < a.duration <= 3600 and 0 < a.rate <= 10_000):
        sys.exit("--requests, --duration and --rate must be positive and bounded")

    rng = random.Random(a.seed)
    rows = [[round(rng.uniform(-1, 1), 4) for _ in range(4)] for _ in range(a.requests)]
    lock = threading.Lock()
    results = []
    next_index = [0]
    start = time.monotonic()
    start_wall = time.time()
    deadline = start + a.duration
    path = url.path or "/"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def worker():
        conn = None
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= a.requests or stop.is_set():
                return
            due = start + i / a.rate
            now = time.monotonic()
            if due >= deadline:
                return
            if due > now and stop.wait(due - now):
                return
            body = json.dumps(
                {"dataframe_split": {"columns": ["f0", "f1", "f2", "f3"], "data": [rows[i]]}}
            )
            sent = time.monotonic()
            status, version = 0, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=a.timeout)
                conn.request("POST", path, body, {"content-type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status, version = resp.status, resp.getheader(VERSION_HEADER)
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            done = time.monotonic()
            with lock:
                results.append((round((sent - start) * 1000, 2), round((done - sent) * 1000, 2), status, version))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    # Joined in short waits, so a signal is handled while they run.
    for t in threads:
        while t.is_alive() and time.monotonic() < deadline + a.timeout + 1:
            t.join(timeout=0.2)

    with lock:
        done = sorted(results)
    if a.out:
        with open(a.out, "w") as f:
            for t, ms, status, version in done:
                line = {"t": t, "at": round(start_wall + t / 1000, 4), "ms": ms}
                line.update({"status": status, "version": version})
                f.write(json.dumps(line) + "\n")
    by_version = {}
    for _, ms, status, version in done:
        ok, failed = by_version.get(version, (0, 0))
        by_version[version] = (ok + (200 <= status < 300), failed + (not 200 <= status < 300))
    for version, (ok, failed) in sorted(by_version.items(), key=lambda kv: str(kv[0])):
        print(f"version {version}: {ok} ok, {failed} failed")
    print(f"{len(done)} requests in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
