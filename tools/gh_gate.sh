#!/usr/bin/env bash
# GitHub Actions: `finegrain gate` against the base revision, its markdown in the job summary and, on a pull request
# whose token may write, in one pull-request comment (updated on later runs). Exits with the gate's status
# (0 pass, 1 regression or failed check, 2 bad input); commenting never changes it.
#
#   tools/gh_gate.sh [REV]
#
# REV (or FINEGRAIN_GATE_REV): the baseline. Default: origin/$GITHUB_BASE_REF on a pull request; on a push, the
# commit before it (the event's `before`) when this clone has it; else HEAD (the committed metrics).
# Reads the runner's GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_BASE_REF, GITHUB_REPOSITORY, GITHUB_API_URL,
# GITHUB_STEP_SUMMARY (unset: a temp file, whose path is printed), GITHUB_SERVER_URL and GITHUB_RUN_ID;
# GITHUB_TOKEN or GH_TOKEN to comment; FINEGRAIN_PR_NUMBER overrides the event's pull-request number.
set -euo pipefail

MARKER='<!-- finegrain-gate -->'

note() { printf 'gh_gate: %s\n' "$*"; }
warn() { printf '::warning::gh_gate: %s\n' "$*"; }  # an annotation on the run

# event_field KEY...: a field of the event's JSON payload, empty when absent.
event_field() {
  if [ -z "${GITHUB_EVENT_PATH:-}" ] || [ ! -f "$GITHUB_EVENT_PATH" ]; then
    return 0
  fi
  python3 - "$GITHUB_EVENT_PATH" "$@" <<'PY'
import json
import sys

node = json.load(open(sys.argv[1], encoding="utf-8"))
for key in sys.argv[2:]:
    node = node.get(key) if isinstance(node, dict) else None
print("" if node is None or isinstance(node, (dict, list)) else node)
PY
}

base_rev() {
  if [ -n "${1:-}" ]; then
    printf '%s\n' "$1"
    return
  fi
  if [ -n "${FINEGRAIN_GATE_REV:-}" ]; then
    printf '%s\n' "$FINEGRAIN_GATE_REV"
    return
  fi
  local before
  case "${GITHUB_EVENT_NAME:-}" in
    pull_request)
      if [ -n "${GITHUB_BASE_REF:-}" ]; then
        printf 'origin/%s\n' "$GITHUB_BASE_REF"
        return
      fi
      ;;
    push)
      # `before` is all zeros for a new branch and may be missing after a force push
      before=$(event_field before) || before=""
      if [ -n "$before" ] && git cat-file -e "${before}^{commit}" 2>/dev/null; then
        printf '%s\n' "$before"
        return
      fi
      ;;
  esac
  printf 'HEAD\n'
}

# api METHOD URL [BODY_FILE]: prints the HTTP status (000: no answer); the response body goes to $response.
api() {
  local args=(--silent --show-error --max-time 30 --output "$response" --write-out '%{http_code}'
    --request "$1" --header @"$headers")
  if [ $# -ge 3 ]; then
    args+=(--data-binary @"$3")
  fi
  curl "${args[@]}" --url "$2" || true
}

# answered CODE WHAT: 0 on a 2xx; otherwise a note (403: a read-only token) and 1.
answered() {
  case "$1" in
    2??) return 0 ;;
    403) note "the token may not $2 (HTTP 403: a fork's pull request gets a read-only token): the gate is in the job summary" ;;
    000) warn "could not $2: the GitHub API at ${GITHUB_API_URL:-} did not answer" ;;
    *) warn "could not $2: HTTP $1: $(head -c 300 "$response" 2>/dev/null || true)" ;;
  esac
  return 1
}

# comment FILE: post FILE's markdown as the pull request's gate comment, or update the one an earlier run posted.
comment() {
  if [ "${GITHUB_EVENT_NAME:-}" != pull_request ]; then
    note "not a pull request (${GITHUB_EVENT_NAME:-no event}): no comment"
    return 0
  fi
  local token=${GITHUB_TOKEN:-${GH_TOKEN:-}}
  if [ -z "$token" ]; then
    note "no GITHUB_TOKEN or GH_TOKEN: no comment"
    return 0
  fi
  local number=${FINEGRAIN_PR_NUMBER:-}
  if [ -z "$number" ]; then
    number=$(event_field pull_request number) || number=""
  fi
  local repo=${GITHUB_REPOSITORY:-}
  if ! [[ $number =~ ^[0-9]+$ ]] || ! [[ $repo =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ ]]; then
    warn "no pull-request number or repository (number '$number', repository '$repo'): no comment"
    return 0
  fi
  local url="${GITHUB_API_URL:-https://api.github.com}/repos/$repo/issues"
  local run_url=""
  if [ -n "${GITHUB_RUN_ID:-}" ]; then
    run_url="${GITHUB_SERVER_URL:-https://gh.ali360.cloudns.ch}/$repo/actions/runs/$GITHUB_RUN_ID"
  fi

  printf 'Authorization: Bearer %s\nAccept: application/vnd.github+json\nX-GitHub-Api-Version: 2022-11-28\nContent-Type: application/json\n' \
    "$token" >"$headers"
  python3 - "$1" "$MARKER" "$run_url" >"$payload" <<'PY' || { warn "could not build the comment"; return 0; }
import json
import sys

text, marker, run_url = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3]
limit = 60_000  # GitHub refuses comments over 65,536 characters
if len(text) > limit:
    text = text[:limit] + "\n\n… cut here: the whole gate is in the job summary.\n"
if run_url:
    text += f"\n[The run: job summary and reports]({run_url})\n"
print(json.dumps({"body": f"{marker}\n{text}"}))
PY

  # an earlier run's comment: the first with the marker, over at most 10 pages of 100
  local page=1 found="" listing code
  while [ "$page" -le 10 ]; do
    code=$(api GET "$url/$number/comments?per_page=100&page=$page")
    answered "$code" "read the pull request's comments" || return 0
    listing=$(python3 - "$response" "$MARKER" <<'PY'
import json
import sys

items, marker = json.load(open(sys.argv[1], encoding="utf-8")), sys.argv[2]
ids = [str(c["id"]) for c in items if isinstance(c, dict) and marker in (c.get("body") or "")]
print(ids[0] if ids else "-", len(items))
PY
    ) || listing="- 0"
    if [[ ${listing% *} =~ ^[0-9]+$ ]]; then
      found=${listing% *}
      break
    fi
    if [ "${listing#* }" -lt 100 ]; then
      break
    fi
    page=$((page + 1))
  done

  if [ -n "$found" ]; then
    code=$(api PATCH "$url/comments/$found" "$payload")
    answered "$code" "update the gate's comment" && note "updated the gate's comment on pull request #$number"
  else
    code=$(api POST "$url/$number/comments" "$payload")
    answered "$code" "comment on the pull request" && note "commented on pull request #$number"
  fi
  return 0
}

rev=$(base_rev "${1:-}")
case "$rev" in
  -*)
    note "bad revision '$rev'"
    exit 2
    ;;
esac

summary=${GITHUB_STEP_SUMMARY:-}
if [ -z "$summary" ]; then
  summary=$(mktemp "${TMPDIR:-/tmp}/finegrain-gate-summary.XXXXXX")
fi
section=$(mktemp)
headers=$(mktemp)
payload=$(mktemp)
response=$(mktemp)
trap 'rm -f "$section" "$headers" "$payload" "$response"' EXIT

note "finegrain gate --rev $rev"
status=0
finegrain gate --rev "$rev" --summary "$section" || status=$?
if [ ! -s "$section" ]; then
  printf '## finegrain gate: ❌ exited with status %s before writing its summary\n\nThe job log says why.\n' \
    "$status" >"$section"
fi
cat "$section" >>"$summary"
note "the gate's markdown is in $summary"

comment "$section"
exit "$status"
