"""Trains tiny scikit-learn models and registers them in an MLflow registry,
for the live loop (tests/cli/live.rs, scripts/demo-live.sh, bench/rollback_live.sh).

    python train.py [--model NAME] --kind good|bad [--kind ...] [--out FILE]

MLFLOW_TRACKING_URI names the server. Each --kind logs one model in a new run,
in order, and prints `VERSION KIND RUN_ID SOURCE` per line: with --model the
model is also registered as the next version of NAME; without it VERSION is
`-` and SOURCE is what a manifest's `source:` names for modelops to register.

- good: a logistic regression on a fixed synthetic dataset; it answers every
  request.
- bad: the same regression wrapped in a pyfunc that is slower (SLOW_MS per
  request) and fails every input whose first feature is above BAD_ABOVE (about
  a third of the load generator's inputs), so the server answers 5xx for them.
"""

import argparse
import time

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

FEATURES = ["f0", "f1", "f2", "f3"]
BAD_ABOVE = 0.33
SLOW_MS = 40


def dataset(seed=7):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(-1.0, 1.0, size=(400, 4)), columns=FEATURES)
    y = (x["f0"] + 0.5 * x["f1"] - 0.25 * x["f2"] > 0).astype(int)
    return x, y


class Faulty(mlflow.pyfunc.PythonModel):
    """A regression that answers slowly and raises on part of its input."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        time.sleep(SLOW_MS / 1000.0)
        if (model_input["f0"] > BAD_ABOVE).any():
            # An internal error, so the scoring server answers 500 (a plain
            # exception is reported as the client's fault, 400).
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

            raise MlflowException("faulty model: this version fails on f0 > 0.33", INTERNAL_ERROR)
        return self.model.predict(model_input)


def log(name, kind, x, y):
    model = LogisticRegression().fit(x, y)
    accuracy = float((model.predict(x) == y).mean())
    signature = infer_signature(x, model.predict(x))
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("modelops.live.kind", kind)
        if kind == "good":
            info = mlflow.sklearn.log_model(
                model, name="model", signature=signature, input_example=x.head(2)
            )
        else:
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Faulty(model), signature=signature
            )
    if name is None:
        return "-", run.info.run_id, info.model_uri
    version = mlflow.register_model(info.model_uri, name)
    return version.version, run.info.run_id, info.model_uri


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="also register each model as a version of this name")
    parser.add_argument("--kind", action="append", choices=["good", "bad"], required=True)
    parser.add_argument("--out", help="also write the lines here")
    args = parser.parse_args()
    x, y = dataset()
    lines = []
    for kind in args.kind:
        version, run_id, source = log(args.model, kind, x, y)
        lines.append(f"{version} {kind} {run_id} {source}")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
