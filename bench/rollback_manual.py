"""The baseline for `modelops rollback`: what a team's runbook script does by
hand with MlflowClient and nginx to put VERSION of MODEL back in Production.

    rollback_manual.py MODEL VERSION FRAGMENT TEST_COMMAND RELOAD_COMMAND

MLFLOW_TRACKING_URI names the server, as for any MlflowClient script.

1. registry: read the version the `production` alias points at, move it to
   Archived and VERSION to Production (`transition_model_version_stage`),
   point the alias at VERSION (`set_registered_model_alias`);
2. serving: rewrite the one `proxy_pass` line of FRAGMENT to VERSION's
   upstream, check with TEST_COMMAND (the old file is put back if it fails)
   and reload with RELOAD_COMMAND (both split on whitespace, as modelops
   does).

No lock, no audit record, no check that VERSION ever served: only the moves.
Prints `import_s registry_s serving_s` (seconds, wall); the interpreter's own
start-up comes before the first line of this file and is timed by the caller.
"""

import time

STARTED = time.perf_counter()

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from mlflow import MlflowClient  # noqa: E402

# transition_model_version_stage warns that stages are deprecated (MLflow 2.9+).
warnings.filterwarnings("ignore", category=FutureWarning)

ALIAS = "production"
PROXY_PASS = re.compile(r"proxy_pass http://(\w+)_v\d+;")


def registry(model, version):
    client = MlflowClient()
    current = client.get_model_version_by_alias(model, ALIAS).version
    if current == version:
        sys.exit(f"{model} version {version} is already in Production")
    client.transition_model_version_stage(model, current, "Archived")
    client.transition_model_version_stage(model, version, "Production")
    client.set_registered_model_alias(model, ALIAS, version)


def serving(version, fragment, test_command, reload_command):
    with open(fragment) as f:
        before = f.read()
    after, n = PROXY_PASS.subn(rf"proxy_pass http://\1_v{version};", before)
    if n != 1:
        sys.exit(f"{fragment}: expected one proxy_pass line, found {n}")
    with open(fragment, "w") as f:
        f.write(after)
    test = subprocess.run(test_command.split(), capture_output=True, text=True)
    if test.returncode != 0:
        with open(fragment, "w") as f:
            f.write(before)
        sys.exit(f"nginx test failed, {fragment} restored:\n{test.stderr}")
    subprocess.run(reload_command.split(), check=True)


def main(model, version, fragment, test_command, reload_command):
    imported = time.perf_counter()
    registry(model, version)
    registered = time.perf_counter()
    serving(version, fragment, test_command, reload_command)
    served = time.perf_counter()
    print(f"{imported - STARTED:.3f} {registered - imported:.3f} {served - registered:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
