#!/usr/bin/env bash
# Before/after on one machine in one session: the headline benchmarks on a base revision
# (each side runs its own scripts, from a temporary git worktree) and on this tree,
# interleaved so that both sides see the same machine load. Figures: docs/performance.md.
#
#   bash benchmarks/before_after.sh de5a9c1 2      # base revision, rounds (default 2)
set -euo pipefail
base=${1:?usage: before_after.sh BASE_REVISION [ROUNDS]}
rounds=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach --quiet "$tmp/base" "$base"

for round in $(seq "$rounds"); do
  for side in before after; do
    tree=$root; [ "$side" = before ] && tree=$tmp/base
    echo "=== round $round $side ($tree)"
    export PYTHONPATH=$tree/src
    "$python" "$tree/benchmarks/bench_queue.py" --sizes 10000,100000 --repeat 3 --no-memory \
      | grep -E "prioq linear|heapq \|"
    "$python" "$tree/benchmarks/bench_scheduler.py" --nodes 2000 --jobs 4000 --repeat 3 \
      --policies first-fit,best-fit | grep "Scheduler.schedule"
    "$python" "$tree/benchmarks/bench_backlog.py" --repeat 3 | tail -2
    "$python" -m prioq bench --repeat 3 --no-progress | grep median
  done
done
