#!/usr/bin/env bash
# Determinism across processes (ARCHITECTURE.md, "Determinism rules"): the
# same scenario run by two separate elara-sim processes gives the same trace
# hash and the same metrics; changing only the seed changes the hash.
# Scenarios exercise loss, a partition, crashes with restarts, churn, the
# protocol bootstrap and the state workload, so every random stream of the
# simulator is involved.
#
# Usage: determinism_test.sh path/to/elara-sim
set -euo pipefail
sim="$1"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0

# The JSON document of one run, without the fields that measure the machine
# (wall time, rates, memory).
run() {
  local out="$1"
  shift
  "$sim" run --quiet --json "$out.full" "$@"
  grep -vE '"(wall_s|events_per_s|setup_s|peak_rss_bytes|rss_bytes_per_node)"' \
    "$out.full" >"$out"
}

hash_of() {
  sed -n 's/.*"trace_hash": "\([0-9a-f]\{16\}\)".*/\1/p' "$1"
}

check_scenario() {
  local name="$1"
  shift
  run "$tmp/$name.a" --seed 11 "$@"
  run "$tmp/$name.b" --seed 11 "$@"
  run "$tmp/$name.c" --seed 12 "$@"
  local a b c
  a=$(hash_of "$tmp/$name.a")
  b=$(hash_of "$tmp/$name.b")
  c=$(hash_of "$tmp/$name.c")
  if [[ ! "$a" =~ ^[0-9a-f]{16}$ ]]; then
    echo "FAIL $name: no trace_hash in the JSON output" >&2
    cat "$tmp/$name.a.full" >&2
    failures=$((failures + 1))
    return
  fi
  if [[ "$a" != "$b" ]] || ! diff -u "$tmp/$name.a" "$tmp/$name.b" >&2; then
    echo "FAIL $name: two processes, same seed: $a vs $b" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name: same seed, same hash and metrics in two processes ($a)"
  fi
  if [[ "$a" == "$c" ]]; then
    echo "FAIL $name: seeds 11 and 12 give the same hash $a" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name: seed 12 gives another hash ($c)"
  fi
}

check_scenario faults --nodes 1500 --loss 0.02 --latency-ms 5:60 \
  --partition 0.3@2500ms-4s --crash 0.1@3s+2s --churn 5 --broadcasts 10 \
  --warmup 2s --drain 5s
check_scenario protocol --nodes 400 --bootstrap protocol --join-spread 2s \
  --mode push --loss 0.01 --latency pareto --latency-min 5ms \
  --latency-max 200ms --broadcasts 5 --drain 4s
# The state workload: writes on both sides of a partition with skewed
# clocks, crashed nodes restarting with empty stores, convergence tracking
# (it converges at about 20 s of the 30 s drain with seeds 11 and 12).
check_scenario state --nodes 200 --broadcasts 3 --warmup 1s \
  --state-writes-per-s 40 --state-keys 50 --state-clock-skew 500ms \
  --partition 0.5@1s-3s --crash 0.05@2s+1s --drain 30s

if [[ "$failures" -ne 0 ]]; then
  echo "determinism_test: $failures failure(s)" >&2
  exit 1
fi
echo "determinism_test: passed"
