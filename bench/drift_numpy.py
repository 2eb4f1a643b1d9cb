"""The drift benchmark's data and its numpy baseline (bench/drift.sh).

    python bench/drift_numpy.py generate DIR [ROWS] [FEATURES]
        writes DIR/reference.{csv,parquet} and DIR/current.{csv,parquet}:
        ROWS (1,000,000) rows of FEATURES (50) numeric columns f00, f01 …,
        normal with per-column means and scales, rounded to 4 decimals; 1%
        nulls in every fifth column; the current window shifts every tenth
        column by a third of its standard deviation and doubles the nulls.

    python bench/drift_numpy.py psi REFERENCE CURRENT
        PSI per column, by the rules of docs/drift.md, vectorised with numpy:
        pandas.read_csv or pyarrow.parquet.read_table loads each file whole,
        then np.quantile on the systematic sample, np.searchsorted and
        np.bincount bin every row. Prints JSON {"elapsed_s", "psi": {...}}.

What a data scientist would write for the same figures, so that the two can
be timed in the same script and their figures compared.
"""

import json
import math
import sys
import time

import numpy as np

SAMPLE_ROWS = 100_000
BINS = 10
EPSILON = 1e-4


def generate(directory, rows=1_000_000, features=50):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    means = rng.uniform(-100, 100, features)
    scales = rng.uniform(0.5, 50, features)
    for name, drifted in (("reference", False), ("current", True)):
        columns = {}
        for j in range(features):
            shift = scales[j] / 3 if drifted and j % 10 == 0 else 0.0
            x = np.round(rng.normal(means[j] + shift, scales[j], rows), 4)
            mask = None
            if j % 5 == 0:
                mask = rng.random(rows) < (0.02 if drifted else 0.01)
            columns[f"f{j:02d}"] = pa.array(x, mask=mask)
        table = pa.table(columns)
        pq.write_table(table, f"{directory}/{name}.parquet")
        pacsv.write_csv(table, f"{directory}/{name}.csv")


def load(path):
    """Every column as a float64 array, NaN for nulls."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return {c: table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in table.column_names}
    import pandas as pd

    frame = pd.read_csv(path, dtype=np.float64)
    return {c: frame[c].to_numpy() for c in frame.columns}


def edges_of(x, bins=BINS):
    k = math.ceil(len(x) / SAMPLE_ROWS)
    sample = x[::k]
    sample = sample[~np.isnan(sample)]
    if bins < 2 or sample.size == 0:
        return np.array([])
    if sample.min() == sample.max():
        c = sample.min()
        return np.array([np.nextafter(c, -np.inf), c])
    edges = np.quantile(sample, np.arange(1, bins) / bins)
    return np.unique(edges[~np.isnan(edges)])


def shares(x, edges):
    nulls = np.isnan(x)
    counts = np.bincount(np.searchsorted(edges, x[~nulls], side="left"), minlength=edges.size + 1)
    return np.append(counts, nulls.sum()) / x.size


def psi(expected, actual, epsilon=EPSILON):
    e = np.where(expected == 0, epsilon, expected)
    a = np.where(actual == 0, epsilon, actual)
    return float(np.sum((a - e) * np.log(a / e)))


def main():
    if sys.argv[1] == "generate":
        generate(sys.argv[2], *(int(a) for a in sys.argv[3:5]))
        return
    started = time.perf_counter()
    reference, current = load(sys.argv[2]), load(sys.argv[3])
    figures = {}
    for column, x in reference.items():
        edges = edges_of(x)
        figures[column] = psi(shares(x, edges), shares(current[column], edges))
    elapsed = time.perf_counter() - started
    json.dump({"elapsed_s": elapsed, "psi": figures}, sys.stdout)


if __name__ == "__main__":
    main()
