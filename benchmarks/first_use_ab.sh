#!/usr/bin/env bash
# First use after installing, two checkouts A/B interleaved (docs/benchmarks.md, "First use"):
#     bash benchmarks/first_use_ab.sh /path/to/main /path/to/branch
# For each model and tree: a `git archive` copy with no __pycache__ (fresh installation: graphc's
# own kernels and helpers compile), then the same copy again (warm installation), each with an
# empty graph cache (GRAPHC_TIERED=0: the compile in the process measured). Prints "round model tree state load-average first_use.py's JSON".
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
      find . -name __pycache__ -type d -exec rm -rf {} +
      for state in fresh warm; do
        out=$(GRAPHC_CACHE_DIR=$(mktemp -d) PYTHONPATH=$PWD timeout 900 \
              python3 benchmarks/first_use.py "$model" 2>/dev/null | tail -1)
        echo "$round $model ${trees[$k]} $state $(uptime | sed 's/.*average: //' | cut -d, -f1) $out"
      done
    done
  done
done
