#!/usr/bin/env python3
"""Generate a synthetic modelops repository for the benchmark.

Writes, under DIR:
  models/<domain>-<task>-NNNNN.yaml  one Model manifest per model, each with three
                                     versions (Archived, Production, Staging)
  deployments/<name>.yaml            a few Deployments (canary and direct)
  policies/default.yaml              the guidelines' gates, written out
  modelops.yaml                      a Config using the embedded backends
  .gitignore                         ignores the embedded state (.modelops/)

Every file is valid and every version passes the default policy's gates, so
`modelops apply` onto an empty registry succeeds and a plan afterwards shows no
changes. The output is deterministic: the same arguments give the same bytes.
Standard library only.

Usage: gen_repo.py DIR [--models N] [--deployments N] [--seed S]
"""

import argparse
import json
import random
from pathlib import Path

# (domain, task, what it predicts, input columns, output column, framework)
FAMILIES = [
    ("churn", "predictor", "30-day churn probability for subscription customers",
     [("tenure_months", "long"), ("monthly_charges", "double"), ("support_tickets_90d", "integer")],
     ("churn_probability", "double"), "sklearn"),
    ("fraud", "detector", "probability that a card transaction is fraudulent",
     [("amount", "double"), ("merchant_category", "string"), ("seconds_since_last_txn", "long")],
     ("fraud_score", "double"), "xgboost"),
    ("credit", "scorer", "probability of default within 12 months for a loan applicant",
     [("debt_to_income", "double"), ("credit_history_months", "long"), ("open_accounts", "integer")],
     ("default_probability", "double"), "lightgbm"),
    ("demand", "forecaster", "next-day unit demand per store and product",
     [("store_id", "string"), ("day_of_week", "integer"), ("price", "float")],
     ("units", "double"), "lightgbm"),
    ("search", "ranker", "relevance of a product to a search query",
     [("query_length", "integer"), ("bm25_score", "float"), ("click_through_rate", "double")],
     ("relevance", "float"), "xgboost"),
    ("spam", "classifier", "probability that an inbound message is spam",
     [("subject_length", "integer"), ("sender_domain", "string"), ("has_attachment", "boolean")],
     ("spam_probability", "double"), "sklearn"),
    ("ticket", "router", "support queue best suited to a new ticket",
     [("text_length", "long"), ("product_area", "string"), ("customer_tier", "string")],
     ("queue_id", "long"), "pytorch"),
    ("price", "optimizer", "price elasticity for a listing",
     [("list_price", "double"), ("competitor_price", "double"), ("listed_at", "datetime")],
     ("elasticity", "double"), "sklearn"),
    ("ad", "ranker", "click probability of an ad impression",
     [("ad_id", "string"), ("hour_of_day", "integer"), ("user_embedding_norm", "float")],
     ("click_probability", "float"), "pytorch"),
    ("image", "tagger", "whether a listing photo is compliant",
     [("width_px", "integer"), ("height_px", "integer"), ("image_bytes", "binary")],
     ("compliant", "boolean"), "pytorch"),
]

# Pinned dependency sets per framework, oldest first: versions move forward
# from the Archived version to the Staging one, as a real team's would.
DEPENDENCIES = {
    "sklearn": [
        {"scikit-learn": "1.3.2", "pandas": "2.1.4", "numpy": "1.26.2"},
        {"scikit-learn": "1.4.2", "pandas": "2.2.2", "numpy": "1.26.4"},
        {"scikit-learn": "1.5.2", "pandas": "2.2.3", "numpy": "1.26.4"},
    ],
    "xgboost": [
        {"xgboost": "1.7.6", "pandas": "2.1.4", "numpy": "1.26.2"},
        {"xgboost": "2.0.3", "pandas": "2.2.2", "numpy": "1.26.4"},
        {"xgboost": "2.1.1", "pandas": "2.2.3", "numpy": "1.26.4"},
    ],
    "lightgbm": [
        {"lightgbm": "4.1.0", "pandas": "2.1.4", "numpy": "1.26.2"},
        {"lightgbm": "4.3.0", "pandas": "2.2.2", "numpy": "1.26.4"},
        {"lightgbm": "4.5.0", "pandas": "2.2.3", "numpy": "1.26.4"},
    ],
    "pytorch": [
        {"torch": "2.1.2", "numpy": "1.26.2", "mlflow": "2.9.2"},
        {"torch": "2.3.1", "numpy": "1.26.4", "mlflow": "2.14.1"},
        {"torch": "2.4.1", "numpy": "1.26.4", "mlflow": "2.17.0"},
    ],
}

OWNERS = ["ml-platform", "growth-ml", "risk-analytics", "search-relevance",
          "trust-safety", "supply-chain-ds", "ads-modeling", "support-automation"]

CHANGELOGS = [
    "Initial production model.",
    "Retrained on {dataset}; same features.",
    "Retrained on {dataset} with tuned regularization.",
    "Retrained on {dataset}; rebalanced classes for the minority group.",
    "Retrained on {dataset}; early stopping on validation AUC.",
]

STAGES = ["Archived", "Production", "Staging"]


def q(text):
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def flow_map(pairs):
    """`{a: 1, b: "x"}` from already-rendered values."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"


# Set by --first-version: where integer version numbers start (None: random).
FIRST_VERSION = None


def model_manifest(index, width, rng):
    domain, task, what, inputs, output, framework = FAMILIES[index % len(FAMILIES)]
    name = f"{domain}-{task}-{index:0{width}d}"
    owner = OWNERS[(index // len(FAMILIES)) % len(OWNERS)]

    # One model in ten uses semantic versions; the rest MLflow-style integers.
    semantic = index % 10 == 9
    first = rng.randint(1, 12)
    major, minor = rng.randint(1, 3), rng.randint(0, 6)
    data_major, data_minor = rng.randint(1, 5), rng.randint(0, 4)

    # Scores that pass the default policy: accuracy >= 0.85 and within 0.01 of
    # Production for the Staging candidate, AUC >= 0.80, every fairness group
    # >= 0.80, p99 latency <= 100 ms.
    prod_acc = rng.uniform(0.865, 0.93)
    accuracies = [prod_acc - rng.uniform(0.0, 0.012), prod_acc, prod_acc + rng.uniform(-0.006, 0.015)]

    lines = [
        "# yaml-language-server: $schema=../schemas/model.schema.json",
        "apiVersion: modelops/v1",
        "kind: Model",
        "metadata:",
        f"  name: {name}",
        f"  owner: {owner}",
        f"  description: {what.capitalize()}.",
        "spec:",
        "  policy: default",
        "  versions:",
    ]
    for step, stage in enumerate(STAGES):
        start = FIRST_VERSION if FIRST_VERSION is not None else first
        version = q(f"{major}.{minor + step}.0") if semantic else str(start + step)
        run_id = f"{rng.getrandbits(128):032x}"
        dataset = f"v{data_major}.{data_minor + step}"
        acc = accuracies[step]
        auc = rng.uniform(0.82, 0.96)
        latency = rng.randint(12, 85)
        female = rng.uniform(0.82, 0.93)
        male = max(0.81, min(0.97, female + rng.uniform(-0.02, 0.03)))
        changelog = CHANGELOGS[0] if step == 0 else CHANGELOGS[1 + rng.randrange(len(CHANGELOGS) - 1)]
        lines += [
            f"    - version: {version}",
            f"      stage: {stage}",
            f"      source: runs:/{run_id}/model",
            f"      training_run_id: {q(run_id)}",
            f"      dataset_version: {dataset}",
            "      metrics: " + flow_map([
                ("test_accuracy", f"{acc:.4f}"),
                ("test_auc", f"{auc:.4f}"),
                ("latency_p99_ms", str(latency)),
            ]),
            "      fairness:",
            "        gender: " + flow_map([("female", f"{female:.3f}"), ("male", f"{male:.3f}")]),
            "      signature:",
            "        inputs:",
        ]
        lines += [f"          - {flow_map([('name', col), ('type', typ)])}" for col, typ in inputs]
        lines += [
            "        outputs:",
            f"          - {flow_map([('name', output[0]), ('type', output[1])])}",
            "      dependencies: " + flow_map((lib, q(pin)) for lib, pin in DEPENDENCIES[framework][step].items()),
            f"      changelog: {q(changelog.format(dataset=dataset))}",
        ]
        # Archived and Production versions were signed off by the owner when
        # they were promoted; the Staging candidate has not been yet.
        if stage != "Staging":
            lines.append(f"      approved_by: {owner}")
    return name, "\n".join(lines) + "\n"


MONITORING = """\
  monitoring:
    window: 1h
    prediction_kl_divergence: 0.1
    feature_psi: 0.2
    accuracy_drop: 2%
    latency_p99_sla: 100ms
    error_rate: 0.1%
    traffic_volume_stddev: 3
"""


def deployment_manifest(name, canary):
    # Neither strategy names a version, so each rolls out the model's desired
    # Production version: once applied, nothing is left in flight.
    if canary:
        strategy = """\
  canary:
    stages:
      - traffic_percent: 10
        duration: 1h
        rollback_if: {error_rate_increase: 0.5%, latency_p99_increase: 20ms}
      - traffic_percent: 50
        duration: 2h
        rollback_if: {error_rate_increase: 0.5%, accuracy_drop: 1%}
      - traffic_percent: 100
        duration: 1h
"""
    else:
        strategy = "  direct: {}\n"
    return (
        "apiVersion: modelops/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  description: Serves {name} on the embedded routing table.\n"
        "spec:\n"
        f"  model: {name}\n"
        "  target: local\n"
        + strategy
        + MONITORING
    )


GATES = """\
    metrics:
      test_accuracy: {better: higher, threshold: 0.85, max_regression: 0.01}
      test_auc: {better: higher, threshold: 0.80}
    fairness_min: 0.80
    signature: {required: true, allow_breaking_changes: false}
    latency_p99_max_ms: 100
    require_pinned_dependencies: true
"""

POLICY = (
    "apiVersion: modelops/v1\n"
    "kind: Policy\n"
    "metadata:\n"
    "  name: default\n"
    "  description: The guidelines' pre-deployment checks, written out.\n"
    "spec:\n"
    "  staging:\n" + GATES
    + "  production:\n" + GATES
    + "  production_requires:\n"
    "    rollout_evidence: true\n"
    "    approvals: [owner]\n"
)

CONFIG = """\
apiVersion: modelops/v1
kind: Config
spec:
  registry:
    type: local
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="directory to write (created; must be empty if it exists)")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--deployments", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--first-version", type=int, default=None,
                        help="number integer versions from this (MLflow numbers from 1); default: a random start per model")
    args = parser.parse_args()
    global FIRST_VERSION
    FIRST_VERSION = args.first_version
    if args.models < 1:
        parser.error("--models must be at least 1")

    root = args.dir
    if root.exists() and any(root.iterdir()):
        parser.error(f"{root} is not empty")
    for sub in ("models", "deployments", "policies"):
        (root / sub).mkdir(parents=True, exist_ok=True)

    rng = random.Random(args.seed)
    width = max(5, len(str(args.models - 1)))
    names = []
    for index in range(args.models):
        name, text = model_manifest(index, width, rng)
        (root / "models" / f"{name}.yaml").write_text(text)
        names.append(name)

    # Deployments for models spread across the range, alternating strategies.
    count = min(args.deployments, len(names))
    for k in range(count):
        name = names[(k * len(names) // count + k) % len(names)]
        (root / "deployments" / f"{name}.yaml").write_text(deployment_manifest(name, canary=k % 2 == 0))

    (root / "policies" / "default.yaml").write_text(POLICY)
    (root / "modelops.yaml").write_text(CONFIG)
    (root / ".gitignore").write_text(".modelops/\n")
    print(f"wrote {args.models} models, {count} deployments, 1 policy to {root}")


if __name__ == "__main__":
    main()
