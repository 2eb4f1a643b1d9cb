#!/usr/bin/env python3
"""Data snapshots for `modelops monitor` on the example repository.

Writes data/fraud-detector/reference.csv (the validation set version 2 was
evaluated on) and data/fraud-detector/current.csv (the last window of
production inputs and predictions), with the inputs of the model's signature
and its prediction column `fraud_score`. Deterministic (seeded); standard
library only. `--drift` shifts the current window's transaction amounts and
merchant mix, as a new merchant category taking off would.

Usage: gen_snapshots.py [--drift] [--out DIR]
"""

import argparse
import csv
import math
import random
from pathlib import Path

CATEGORIES = ["grocery", "fuel", "travel", "electronics", "restaurants", "online"]


def rows(n, seed, drift):
    rng = random.Random(seed)
    weights = [0.3, 0.15, 0.1, 0.1, 0.2, 0.15]
    if drift:
        weights = [0.15, 0.1, 0.1, 0.25, 0.1, 0.3]
    for _ in range(n):
        amount = math.exp(rng.gauss(3.6 + (0.6 if drift else 0.0), 1.0))
        category = rng.choices(CATEGORIES, weights)[0]
        present = rng.random() < (0.55 if not drift else 0.35)
        age = int(rng.expovariate(1 / 900))
        distance = round(abs(rng.gauss(8.0, 12.0)), 2)
        # Missing distances happen: the phone's location was off.
        distance_cell = "" if rng.random() < 0.03 else distance
        score = 1 / (1 + math.exp(-(-4.0 + 0.004 * amount + (0 if present else 1.2) + 0.01 * distance)))
        yield [round(amount, 2), category, str(present).lower(), age, distance_cell, round(score, 5)]


def write(path, n, seed, drift):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["transaction_amount", "merchant_category", "card_present",
                    "account_age_days", "distance_from_home_km", "fraud_score"])
        w.writerows(rows(n, seed, drift))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drift", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "fraud-detector"))
    a = p.parse_args()
    out = Path(a.out)
    write(out / "reference.csv", 4000, 7, False)
    write(out / "current.csv", 1500, 11, a.drift)


if __name__ == "__main__":
    main()
