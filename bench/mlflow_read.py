"""The Python baseline for `modelops plan`'s read path against MLflow: what a
team's script would do with MlflowClient to learn every registered model,
version, stage and alias. Prints the wall time in seconds."""

import sys
import time

from mlflow import MlflowClient


def main(uri):
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    started = time.perf_counter()
    models, token = [], None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            break
    aliases = {m.name: dict(m.aliases) for m in models}
    versions, token = [], None
    while True:
        page = client.search_model_versions(max_results=10000, page_token=token, order_by=["name ASC"])
        versions.extend(page)
        token = page.token
        if not token:
            break
    stages = {(v.name, v.version): v.current_stage for v in versions}
    elapsed = time.perf_counter() - started
    print(f"{elapsed:.3f} {len(models)} {len(versions)} {sum(len(a) for a in aliases.values())} {len(stages)}")


if __name__ == "__main__":
    main(sys.argv[1])
