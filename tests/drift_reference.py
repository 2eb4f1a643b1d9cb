"""A deliberately naive reference for modelops' drift figures (src/drift).

Reads whole files into Python lists (the csv module; pyarrow for Parquet),
bins with plain loops, and computes PSI and KL by the formulas in
docs/drift.md. Only the quantile edges use numpy (np.quantile, its default
linear method), as the rule says. It shares no code with the Rust engine;
tests/cli/drift.rs compares the two within 1e-9.

    python tests/drift_reference.py --reference R --current C [--current C2 ...]
        [--bins 10] [--epsilon 1e-4] [--prediction COL]
        [--categorical a,b] [--features a,b]

prints JSON: a list with, per current file,
    {"features": {name: {"psi", "kind", "bins", "reference_nulls",
     "current_nulls"}}, "prediction_kl": x or null,
     "reference_rows": n, "current_rows": n}
"""

import argparse
import csv
import json
import math
import sys

import numpy as np

SAMPLE_ROWS = 100_000
NULL_TOKENS = {"", "na", "n/a", "nan", "null", "none"}
ASCII_WHITESPACE = " \t\n\r\x0c"


def read_csv(path):
    """Column names and, per column, a list of None or str."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row != []]
    header = [name.strip(ASCII_WHITESPACE) for name in rows[0]]
    columns = {name: [] for name in header}
    for row in rows[1:]:
        for name, cell in zip(header, row):
            cell = cell.strip(ASCII_WHITESPACE)
            columns[name].append(None if cell.lower() in NULL_TOKENS else cell)
    return header, columns, set()


def read_parquet(path):
    """Column names, per column a list of None, float or str, and the names
    of the columns whose Parquet type is text (strings, booleans)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = {}
    text = set()
    for field in table.schema:
        values = table.column(field.name).to_pylist()
        if pa.types.is_boolean(field.type):
            text.add(field.name)
            values = [None if v is None else ("true" if v else "false") for v in values]
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            text.add(field.name)
        else:
            values = [None if v is None or math.isnan(float(v)) else float(v) for v in values]
        columns[field.name] = values
    return list(table.schema.names), columns, text


def read(path):
    if path.lower().endswith(".csv"):
        return read_csv(path)
    if path.lower().endswith(".parquet"):
        return read_parquet(path)
    sys.exit(f"{path}: not .csv or .parquet")


def as_number(value):
    """A float, None for a null or NaN; raises on text that is no number."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def is_numeric(values):
    for value in values:
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
    return True


def label(value):
    """A category's text: a number as Rust prints an f64 (integers bare)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def edges_of(values, bins):
    rows = len(values)
    k = -(-rows // SAMPLE_ROWS)
    sample = [v for v in values[::k] if v is not None]
    if bins < 2 or not sample:
        return []
    if min(sample) == max(sample):
        c = sample[0]
        return [float(np.nextafter(c, -np.inf)), c]
    q = np.arange(1, bins) / bins
    edges = np.quantile(np.array(sample, dtype=np.float64), q)
    edges = np.unique(edges[~np.isnan(edges)])
    return [float(e) for e in edges]


def numeric_shares(values, edges):
    counts = [0] * (len(edges) + 1)
    nulls = 0
    for value in values:
        if value is None:
            nulls += 1
            continue
        below = 0
        for edge in edges:
            if edge < value:
                below += 1
        counts[below] += 1
    return [c / len(values) for c in counts] + [nulls / len(values)], nulls


def category_shares(values, categories):
    counts = {c: 0 for c in categories}
    nulls = 0
    for value in values:
        if value is None:
            nulls += 1
        else:
            counts[label(value)] += 1
    return [counts[c] / len(values) for c in categories] + [nulls / len(values)], nulls


def smooth(p, epsilon):
    return epsilon if p == 0 else p


def psi(expected, actual, epsilon):
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = smooth(e, epsilon), smooth(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def kl(p, q, epsilon):
    total = 0.0
    for pi, qi in zip(p, q):
        pi, qi = smooth(pi, epsilon), smooth(qi, epsilon)
        total += pi * math.log(pi / qi)
    return total


def compare(name, ref, cur, ref_text, categorical, bins):
    """Expected and actual shares, kind, value bins, nulls."""
    forced = name in categorical
    if forced or name in ref_text or not is_numeric(ref):
        categories = sorted(
            {label(v) for v in ref if v is not None} | {label(v) for v in cur if v is not None},
            key=lambda c: c.encode(),
        )
        e, ref_nulls = category_shares(ref, categories)
        a, cur_nulls = category_shares(cur, categories)
        return e, a, "categorical", len(categories), ref_nulls, cur_nulls
    ref = [as_number(v) for v in ref]
    cur = [as_number(v) for v in cur]
    edges = edges_of(ref, bins)
    e, ref_nulls = numeric_shares(ref, edges)
    a, cur_nulls = numeric_shares(cur, edges)
    return e, a, "numeric", len(edges) + 1, ref_nulls, cur_nulls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", action="append", required=True)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=1e-4)
    parser.add_argument("--prediction")
    parser.add_argument("--categorical", default="")
    parser.add_argument("--features")
    args = parser.parse_args()
    categorical = set(filter(None, args.categorical.split(",")))

    ref_names, ref_columns, ref_text = read(args.reference)
    ref_rows = len(next(iter(ref_columns.values())))
    reports = []
    for current in args.current:
        cur_names, cur_columns, _ = read(current)
        cur_rows = len(next(iter(cur_columns.values())))
        if args.features:
            names = args.features.split(",")
        else:
            names = [n for n in ref_names if n in cur_columns and n != args.prediction]
        report = {
            "features": {},
            "prediction_kl": None,
            "reference_rows": ref_rows,
            "current_rows": cur_rows,
        }
        for name in names:
            e, a, kind, value_bins, ref_nulls, cur_nulls = compare(
                name, ref_columns[name], cur_columns[name], ref_text, categorical, args.bins
            )
            report["features"][name] = {
                "psi": psi(e, a, args.epsilon),
                "kind": kind,
                "bins": value_bins,
                "reference_nulls": ref_nulls,
                "current_nulls": cur_nulls,
            }
        if args.prediction:
            e, a, *_ = compare(
                args.prediction,
                ref_columns[args.prediction],
                cur_columns[args.prediction],
                ref_text,
                categorical,
                args.bins,
            )
            report["prediction_kl"] = kl(a, e, args.epsilon)
        reports.append(report)
    json.dump(reports, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
