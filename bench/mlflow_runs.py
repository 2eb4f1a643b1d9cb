#!/usr/bin/env python3
"""Log a training run for every version of a generated repository, with the
metrics its manifest declares, and write a copy of the repository naming
those runs (source `runs:/<id>/model` and `training_run_id`); then time the
two ways of reading them all that modelops has, as it sends them (16 at
once): `experiments/search` and `runs/search` by id, 100 ids a request,
against one `runs/get` per run. For bench/mlflow.sh. Standard library only.

Usage: mlflow_runs.py TRACKING_URL REPO OUT_REPO
Prints: RUNS SEARCH_SECONDS SEARCH_REQUESTS GET_SECONDS GET_REQUESTS
"""

import json
import re
import shutil
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def post(url, path, body):
    req = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return json.load(urllib.request.urlopen(req))


def main(url, repo, out):
    shutil.copytree(repo, out)
    files = sorted((Path(out) / "models").glob("*.yaml"))
    # (file, old run id, metrics) per version, in file order.
    versions = []
    for f in files:
        text = f.read_text()
        for m in re.finditer(r"source: runs:/([0-9a-f]{32})/model\n.*?\n.*?\n\s+metrics: \{([^}]*)\}", text):
            metrics = {}
            for pair in m.group(2).split(","):
                k, _, v = pair.partition(":")
                metrics[k.strip()] = float(v)
            versions.append((f, m.group(1), metrics))

    def log(v):
        run = post(url, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        batch = [{"key": k, "value": x, "timestamp": 0, "step": 0} for k, x in v[2].items()]
        post(url, "runs/log-batch", {"run_id": run, "metrics": batch})
        return run

    with ThreadPoolExecutor(16) as pool:
        runs = list(pool.map(log, versions))
    by_file = {}
    for (f, old, _), new in zip(versions, runs):
        by_file.setdefault(f, []).append((old, new))
    for f, pairs in by_file.items():
        text = f.read_text()
        for old, new in pairs:
            text = text.replace(old, new)
        f.write_text(text)
    search_s, search_n = timed_search(url, runs)
    get_s, get_n = timed_get(url, runs)
    print(len(runs), f"{search_s:.2f}", search_n, f"{get_s:.2f}", get_n)


def timed_search(url, runs):
    started = time.perf_counter()
    req = urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1000&view_type=ALL")
    experiments = [e["experiment_id"] for e in json.load(req)["experiments"]]
    chunks = [runs[i : i + 100] for i in range(0, len(runs), 100)]

    def one(chunk):
        ids = ", ".join(f"'{r}'" for r in chunk)
        body = {"experiment_ids": experiments, "filter": f"attributes.run_id IN ({ids})", "run_view_type": "ALL", "max_results": len(chunk)}
        return len(post(url, "runs/search", body).get("runs", []))

    with ThreadPoolExecutor(16) as pool:
        found = sum(pool.map(one, chunks))
    assert found == len(runs), (found, len(runs))
    return time.perf_counter() - started, 1 + len(chunks)


def timed_get(url, runs):
    started = time.perf_counter()

    def one(run):
        return json.load(urllib.request.urlopen(f"{url}/api/2.0/mlflow/runs/get?run_id={run}"))["run"]["info"]["run_id"]

    with ThreadPoolExecutor(16) as pool:
        found = list(pool.map(one, runs))
    assert found == runs
    return time.perf_counter() - started, len(runs)


if __name__ == "__main__":
    main(*sys.argv[1:4])
