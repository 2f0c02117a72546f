#!/usr/bin/env bash
# One experiment of a sweep across machines, on DVC's own mechanism (README "Sweeps across machines").
#
#   SLURM:   sbatch --array=0-3 tools/slurm_sweep.sh            (task i runs line i+1 of $SWEEP_FILE)
#   a VM:    tools/slurm_sweep.sh 2                             (or SLURM_ARRAY_TASK_ID=2 tools/slurm_sweep.sh)
#   collect: finegrain sweep collect --remote origin            (in any clone: dvc exp pull + the table)
#
# The task clones $SWEEP_GIT (the shared git remote) at $SWEEP_REV into its own scratch folder, runs
# `dvc exp run --temp -S <overrides>` with the overrides of its line of $SWEEP_FILE (a file in the repository:
# one experiment per line, space-separated KEY=VALUE params overrides, `#` comments), names the experiment
# $SWEEP_NAME-<job>-<task>, and `dvc exp push origin`: the experiment's git refs go to the git remote and its
# outputs to the project's default DVC remote (committed in .dvc/config, shared by every machine).
#
# Environment: SWEEP_GIT (required), SWEEP_FILE (default sweep.txt), SWEEP_REV (default: the remote's HEAD),
# SWEEP_NAME (default sweep), SWEEP_TARGETS (stages to run, e.g. "evaluate@cnn"; default: the whole pipeline),
# SWEEP_WORKDIR (default ${TMPDIR:-/tmp}), SWEEP_CACHE (a DVC cache folder shared by the tasks, optional),
# SWEEP_PULL=1 (dvc pull the baseline's outputs first, so unchanged stages are not rerun).
#
#SBATCH --job-name=finegrain-sweep
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=finegrain-sweep-%A_%a.log
set -euo pipefail

task=${1:-${SLURM_ARRAY_TASK_ID:?give the task index as argument or SLURM_ARRAY_TASK_ID}}
job=${SLURM_ARRAY_JOB_ID:-local}
: "${SWEEP_GIT:?SWEEP_GIT: the shared git remote (URL or path) the project is pushed to}"
name="${SWEEP_NAME:-sweep}-${job}-${task}"
work="${SWEEP_WORKDIR:-${TMPDIR:-/tmp}}/finegrain-${name}"
export DVC_NO_ANALYTICS=1

rm -rf "$work"
git clone -q "$SWEEP_GIT" "$work"
cd "$work"
if [ -n "${SWEEP_REV:-}" ]; then git checkout -q "$SWEEP_REV"; fi
sweep_file=${SWEEP_FILE:-sweep.txt}
[ -f "$sweep_file" ] || { echo "error: SWEEP_FILE: $sweep_file is not in the repository" >&2; exit 2; }
line=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$sweep_file" | sed -n "$((task + 1))p")
[ -n "$line" ] || { echo "error: SWEEP_FILE: $sweep_file has no experiment for task $task (0-based)" >&2; exit 2; }
read -r -a overrides <<<"$line"
sets=()
for override in "${overrides[@]}"; do sets+=(-S "$override"); done
read -r -a targets <<<"${SWEEP_TARGETS:-}"

if [ -n "${SWEEP_CACHE:-}" ]; then dvc cache dir --local "$SWEEP_CACHE"; fi
if [ "${SWEEP_PULL:-0}" = 1 ]; then dvc pull; fi
echo "task $task: dvc exp run --temp -n $name ${sets[*]} ${targets[*]}"
dvc exp run --temp -n "$name" "${sets[@]}" "${targets[@]}"
dvc exp push origin "$name"
echo "task $task: pushed experiment $name"
