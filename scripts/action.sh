#!/usr/bin/env bash
# The GitHub Action's body (action.yml runs it once modelops is built):
# validate, plan or apply a model-lifecycle repository; annotate validation
# errors on their lines, write the job summary, keep the pull request's plan
# comment up to date, and set the step's outputs.
#
# It reads only what a workflow runner sets, so it runs the same way on a
# laptop or in a test:
#   MODELOPS_BIN                the modelops binary (required)
#   INPUT_COMMAND               validate | plan | apply (required)
#   INPUT_WORKING_DIRECTORY     the model-lifecycle repository, relative to
#                               the workspace (the current directory); default .
#   INPUT_COMMENT               true | false: on a pull request, post the plan
#                               as a comment (default true)
#   INPUT_ARGS                  more arguments for the command, split on whitespace
#   INPUT_GITHUB_TOKEN          the token, given only to `modelops comment`
#                               (else GITHUB_TOKEN)
#   INPUT_APPROVALS_TOKEN       the token `plan` and `apply` read pull-request
#                               reviews and team membership with (as
#                               GITHUB_TOKEN), for owners mapped to GitHub
#                               identities; none by default
#   GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (pull_request: number, head.sha,
#   base.sha), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_REPOSITORY,
#   GITHUB_API_URL, RUNNER_TEMP
#
# Outputs: exitcode (modelops'), has-changes (plan only: true when the plan
# has changes), plan-json (plan only: the saved plan's path).
#
# On a pull request, `plan` reads the head commit (--rev) and plans only the
# models changed since the base commit (--base); both must be in the clone
# (actions/checkout with fetch-depth: 0), or are fetched from origin.
# Exit status: 0 when modelops succeeded (for plan: with or without
# changes), 1 when it failed or the comment could not be posted.
set -euo pipefail

say() { printf '%s\n' "$*"; }
fail() { say "::error title=modelops action::$*"; exit 1; }

BIN="${MODELOPS_BIN:-}"
if [ -z "$BIN" ] || [ ! -f "$BIN" ] || [ ! -x "$BIN" ]; then
  fail "MODELOPS_BIN=${BIN:-(unset)} is not an executable modelops"
fi
COMMAND="${INPUT_COMMAND:-}"
case "$COMMAND" in
  validate | plan | apply) ;;
  *) fail "input command must be validate, plan or apply, not '${COMMAND}'" ;;
esac
DIR="${INPUT_WORKING_DIRECTORY:-.}"
# As annotations need it: relative to the workspace, no ./ and no trailing /.
while [ "${DIR#./}" != "$DIR" ]; do DIR="${DIR#./}"; done
DIR="${DIR%/}"
[ -n "$DIR" ] || DIR=.
[ -d "$DIR" ] || fail "working-directory '$DIR' is not a directory"
case "${INPUT_COMMENT:-true}" in
  true | '') COMMENT=true ;;
  false) COMMENT=false ;;
  *) fail "input comment must be true or false, not '${INPUT_COMMENT}'" ;;
esac
read -r -a EXTRA <<<"${INPUT_ARGS:-}"
TOKEN="${INPUT_GITHUB_TOKEN:-${GITHUB_TOKEN:-}}"
APPROVALS_TOKEN="${INPUT_APPROVALS_TOKEN:-}"
# The comment's token goes to `modelops comment` only; `plan` and `apply`
# get the approvals token (or none), to read reviews and team membership.
unset INPUT_GITHUB_TOKEN GITHUB_TOKEN INPUT_APPROVALS_TOKEN

WORK="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/modelops"
mkdir -p "$WORK"
OUTPUT="${GITHUB_OUTPUT:-/dev/null}"
SUMMARY="${GITHUB_STEP_SUMMARY:-/dev/null}"
output() { printf '%s=%s\n' "$1" "$2" >>"$OUTPUT"; }

# The pull request, when the event is one.
PR='' HEAD='' BASE='' FORK=false
if [ "${GITHUB_EVENT_NAME:-}" = pull_request ] || [ "${GITHUB_EVENT_NAME:-}" = pull_request_target ]; then
  [ -f "${GITHUB_EVENT_PATH:-}" ] || fail "GITHUB_EVENT_PATH does not name the event's JSON file"
  command -v python3 >/dev/null || fail "python3 is needed to read the event (GitHub's runners have it)"
  mapfile -t FIELDS < <(python3 - "$GITHUB_EVENT_PATH" <<'PY'
import json, sys

event = json.load(open(sys.argv[1], encoding="utf-8"))
pr = event.get("pull_request") or {}

def get(*keys):
    v = pr
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return "" if v is None else str(v)

print(get("number"))
print(get("head", "sha"))
print(get("base", "sha"))
print(get("head", "repo", "full_name"))
print(get("base", "repo", "full_name"))
PY
  )
  PR="${FIELDS[0]:-}" HEAD="${FIELDS[1]:-}" BASE="${FIELDS[2]:-}"
  if [ -z "$PR" ] || [ -z "$HEAD" ] || [ -z "$BASE" ]; then
    fail "the event has no pull_request.number, head.sha and base.sha"
  fi
  [ "${FIELDS[3]:-}" = "${FIELDS[4]:-}" ] || FORK=true
  for sha in "$HEAD" "$BASE"; do
    if ! git -C "$DIR" cat-file -e "$sha^{commit}" 2>/dev/null; then
      say "Fetching $sha (check out with fetch-depth: 0 to avoid this)"
      git -C "$DIR" fetch --no-tags --quiet origin "$sha" ||
        fail "commit $sha is not in the clone and cannot be fetched; use actions/checkout with fetch-depth: 0"
    fi
  done
fi
REV=()
[ -n "$HEAD" ] && REV=(--rev "$HEAD")

# Posts DOCUMENT (a plan, or validate's JSON report) on the pull request;
# returns 1 when that fails.
comment() {
  local document="$1"
  [ -n "$PR" ] && [ "$COMMENT" = true ] || return 0
  if [ "$FORK" = true ] && [ "${GITHUB_EVENT_NAME}" = pull_request ]; then
    say "::notice title=modelops::A pull request from a fork gets a read-only token, so the plan is in the job summary, not in a comment."
    return 0
  fi
  [ -n "$TOKEN" ] || { say "::error title=modelops::no token for the comment (input github-token)"; return 1; }
  GITHUB_TOKEN="$TOKEN" "$BIN" comment --pr "$PR" --plan "$document"
}

# Validation first, whatever the command: errors become annotations on
# their lines (workflow commands on stdout), and nothing runs on an
# invalid repository.
status=0
"$BIN" validate --repo "$DIR" "${REV[@]}" --format github || status=$?
if [ "$status" -ne 0 ]; then
  output exitcode "$status"
  output has-changes false
  output plan-json ''
  report="$WORK/validation.json"
  "$BIN" validate --repo "$DIR" "${REV[@]}" --format json >"$report" 2>/dev/null || true
  if [ -s "$report" ] && "$BIN" comment --print --plan "$report" >>"$SUMMARY"; then
    comment "$report" || true
  fi
  exit 1
fi

case "$COMMAND" in
  validate)
    "$BIN" validate --repo "$DIR" "${REV[@]}" "${EXTRA[@]}" | tee -a "$SUMMARY"
    output exitcode 0
    ;;

  plan)
    plan="$WORK/plan.json"
    BASE_ARGS=()
    [ -n "$BASE" ] && BASE_ARGS=(--base "$BASE" --pr "$PR")
    status=0
    GITHUB_TOKEN="$APPROVALS_TOKEN" "$BIN" plan --repo "$DIR" "${REV[@]}" "${BASE_ARGS[@]}" \
      --format json --detailed-exitcode "${EXTRA[@]}" >"$plan" || status=$?
    output exitcode "$status"
    if [ "$status" -eq 2 ]; then output has-changes true; else output has-changes false; fi
    # A plan with refused changes or failed gates exits 1 but is still a
    # plan: it is shown, and posted, with its errors.
    posted=0
    if [ -s "$plan" ] && "$BIN" comment --print --plan "$plan" >>"$SUMMARY"; then
      output plan-json "$plan"
      comment "$plan" || posted=$?
    else
      output plan-json ''
      printf '### modelops plan\n\n:x: modelops plan failed (exit %s); the log says why.\n' "$status" >>"$SUMMARY"
    fi
    [ "$status" -eq 0 ] || [ "$status" -eq 2 ] || exit 1
    exit "$posted"
    ;;

  apply)
    log="$WORK/apply.txt"
    set +e
    GITHUB_TOKEN="$APPROVALS_TOKEN" "$BIN" apply --repo "$DIR" "${EXTRA[@]}" </dev/null | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    output exitcode "$status"
    # The fence is one backtick longer than the longest run of backticks
    # in the log, and at least three, so no line of the log can close the
    # block (as src/render/safe.rs fences markdown).
    longest=$({ grep -o '``*' "$log" || true; } | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }')
    width=$((longest + 1 > 3 ? longest + 1 : 3))
    fence=$(printf "%${width}s" '' | tr ' ' '`')
    {
      printf '### modelops apply\n\n%stext\n' "$fence"
      cat "$log"
      # A last line without a newline would swallow the closing fence.
      if [ -s "$log" ] && [ -n "$(tail -c 1 "$log")" ]; then echo; fi
      printf '%s\n' "$fence"
    } >>"$SUMMARY"
    exit "$status"
    ;;
esac
