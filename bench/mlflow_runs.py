#!/usr/bin/env python3
"""Log a training run for every version of a generated repository, with the
metrics its manifest declares, and write a copy of the repository naming
those runs (source `runs:/<id>/model` and `training_run_id`): for comparing
the ways modelops reads runs (bench/mlflow.sh). Standard library only.

Usage: mlflow_runs.py TRACKING_URL REPO OUT_REPO
"""

import json
import re
import shutil
import sys
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
    print(len(runs))


if __name__ == "__main__":
    main(*sys.argv[1:4])
