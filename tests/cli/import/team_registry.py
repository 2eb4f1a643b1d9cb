"""Registers models in an MLflow registry the way teams do without modelops,
for the `import` tests (tests/cli/import.rs).

    python team_registry.py PREFIX

MLFLOW_TRACKING_URI names the server. PREFIX keeps names apart between runs
(a lowercase word: model names stay `<domain>-<task>`). Prints one JSON line:
{"fraud": NAME, "churn": NAME, "legacy": NAME, "runs": {"fraud/1": RUN_ID, ...}}.

- `<PREFIX>fraud-detector`: three versions from `mlflow.sklearn.log_model`
  with a signature inferred from the data and pinned pip requirements, each in
  its own run with metrics, a dataset input and a description; version 1
  Archived, 2 Production (and alias `production`), 3 Staging (and alias
  `staging`), the older stage workflow with aliases beside it. The output
  column is named (`is_fraud`). The model has a description and an `owner`
  tag; the versions carry the guidelines' registration tags
  (`dataset_version`, `training_run_id`, `owner`).
- `<PREFIX>churn-predictor`: MLflow 3's alias-only workflow: two versions left
  in stage None, version 1 aliased `production`, version 2 `staging`; the
  dataset is only a run tag, the owner only the creator, and the signature's
  output is a bare array (no column name), as `infer_signature(x,
  model.predict(x))` logs it.
- `<PREFIX>_Legacy`: a name modelops does not accept (`<domain>-<task>`).
"""

import json
import sys
import warnings

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")

FEATURES = ["amount", "merchant_risk", "hour", "country_mismatch"]
REQUIREMENTS = ["scikit-learn==1.5.2", "pandas==2.2.3", "numpy==1.26.4"]


def data(seed, rows=300):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(0.0, 1.0, size=(rows, 4)), columns=FEATURES)
    x["hour"] = (x["hour"] * 23).astype("int64")
    y = (x["amount"] + x["merchant_risk"] > 1.0).astype("int64")
    return x, y


def train(name, seed, dataset_name, dataset_tag=None, input_dataset=True, named_output=True):
    """One run that trains, evaluates and logs a model; registers it."""
    x, y = data(seed)
    model = LogisticRegression().fit(x, y)
    predicted = model.predict(x)
    if named_output:
        predicted = pd.DataFrame({"is_fraud": predicted})
    accuracy = round(float((model.predict(x) == y).mean()), 4)
    with mlflow.start_run() as run:
        if input_dataset:
            mlflow.log_input(
                mlflow.data.from_pandas(x.assign(label=y), name=dataset_name),
                context="training",
            )
        if dataset_tag:
            mlflow.set_tag("dataset_version", dataset_tag)
        mlflow.log_metrics(
            {"test_accuracy": accuracy, "test_auc": 0.9, "latency_p99_ms": 12.5}
        )
        mlflow.log_param("C", 1.0)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x, predicted),
            pip_requirements=REQUIREMENTS,
        )
    version = mlflow.register_model(info.model_uri, name)
    return run.info.run_id, version.version


def main():
    prefix = sys.argv[1]
    client = MlflowClient()
    fraud = f"{prefix}fraud-detector"
    churn = f"{prefix}churn-predictor"
    runs = {}

    client.create_registered_model(
        fraud,
        tags={"owner": "risk-ml", "team": "risk"},
        description="Scores card transactions for fraud.",
    )
    for seed, stage, alias in [(1, "Archived", None), (2, "Production", "production"), (3, "Staging", "staging")]:
        run_id, version = train(fraud, seed, f"transactions-2026-0{seed}")
        runs[f"fraud/{version}"] = run_id
        client.update_model_version(fraud, version, description=f"Retrained on transactions-2026-0{seed}.")
        for key, value in {"dataset_version": f"v{seed}.0", "training_run_id": run_id, "owner": "risk-ml"}.items():
            client.set_model_version_tag(fraud, version, key, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.transition_model_version_stage(fraud, version, stage)
        if alias:
            client.set_registered_model_alias(fraud, alias, version)

    client.create_registered_model(churn)
    for seed, alias in [(4, "production"), (5, "staging")]:
        run_id, version = train(
            churn, seed, "unused", dataset_tag=f"churn-v{seed}", input_dataset=False, named_output=False
        )
        runs[f"churn/{version}"] = run_id
        client.set_registered_model_alias(churn, alias, version)

    legacy = f"{prefix}_Legacy"
    run_id, _ = train(legacy, 6, "legacy")
    runs["legacy/1"] = run_id

    print(json.dumps({"fraud": fraud, "churn": churn, "legacy": legacy, "runs": runs}))


if __name__ == "__main__":
    main()
