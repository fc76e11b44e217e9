#!/usr/bin/env bash
# First use after installing, two checkouts A/B interleaved (docs/benchmarks.md, "First use"):
#     bash benchmarks/first_use_ab.sh /path/to/main /path/to/branch
# For each model and tree: a `git archive` copy with no __pycache__ (fresh installation: graphc's
# own kernels and helpers compile), then the same copy again (warm installation), each with an
# empty graph cache (GRAPHC_TIERED=0: the compile in the process measured). Prints "round model tree state load-average first_use.py's JSON".
# KEEP_PYC=1: a fresh installation as an installer leaves it (pip byte-compiles the package): the
# .pyc files are written first and kept, only Numba's cache files (*.nbi, *.nbc) are removed; without
# it the fresh run also byte-compiles the graphc modules it imports (0.5-1 s of CPU, table 45).
set -u
trees=("$1" "$2")
for k in 0 1; do
  rm -rf "/tmp/fu_$k" && mkdir "/tmp/fu_$k"
  (cd "${trees[$k]}" && git archive HEAD | tar -x -C "/tmp/fu_$k")
  # one harness for both: the second tree's benchmark scripts and examples (its models, e.g. lstm)
  (cd "${trees[1]}" && git archive HEAD benchmarks examples | tar -x -C "/tmp/fu_$k")
done
# In-process compiles (not the process tier's worker), and .pyc files written as an installer does.
export GRAPHC_TIERED=0
unset PYTHONDONTWRITEBYTECODE
for round in ${ROUNDS:-1}; do
  for model in ${MODELS:-mlp gp conv lstm}; do
    for k in 0 1; do
      cd "/tmp/fu_$k"
      if [ -n "${KEEP_PYC:-}" ]; then
        python3 -m compileall -q graphc benchmarks examples >/dev/null
        find . \( -name '*.nbi' -o -name '*.nbc' \) -delete
      else
        find . -name __pycache__ -type d -exec rm -rf {} +
      fi
      for state in fresh warm; do
        out=$(GRAPHC_CACHE_DIR=$(mktemp -d) PYTHONPATH=$PWD timeout 900 \
              python3 benchmarks/first_use.py "$model" 2>/dev/null | tail -1)
        echo "$round $model ${trees[$k]} $state $(uptime | sed 's/.*average: //' | cut -d, -f1) $out"
      done
    done
  done
done
