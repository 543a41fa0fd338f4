#!/usr/bin/env bash
# Builds elara-sim with GCC profile-guided optimisation (PGO) and copies the
# binary to OUTPUT (default ./elara-sim-pgo).
#
# Three steps, each from scratch so the profile always matches the sources:
#   1. an instrumented -c opt build (-fprofile-generate), into a profile
#      directory under Bazel's output base;
#   2. a training run: the fixed scenarios below (hybrid broadcast with loss
#      and latency, a partition with crashes, pull mode, churn with protocol
#      bootstrap, the state workload; about 10 s), which write the profile;
#   3. an optimised -c opt build that reads it (-fprofile-use).
#
# The result runs the same protocol and simulator code: same flags and seed
# give the same trace_hash as the plain -c opt binary (the script checks this
# on one scenario before it copies the binary). It is faster (BENCHMARKS.md,
# "Build options"). It costs two full builds (7-14 minutes on 2 cores).
# Afterwards `bazel build -c opt` builds the plain binary again (the flags
# differ), so keep the copy.
#
# Usage: tools/pgo_build.sh [OUTPUT]
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-elara-sim-pgo}"
case "$out" in
  /*) ;;
  *) out="$PWD/$out" ;;
esac

tools/setup.sh
profile_dir="$(bazel info output_base 2>/dev/null)/elara-pgo"
rm -rf "$profile_dir"
mkdir -p "$profile_dir"
sim=bazel-bin/tools/elara-sim

echo "pgo_build: 1/3 instrumented build (profile in $profile_dir)" >&2
bazel build -c opt --copt=-fprofile-generate="$profile_dir" \
  --copt=-fprofile-update=single --linkopt=-fprofile-generate="$profile_dir" \
  //tools:elara-sim
cp -f "$sim" "$profile_dir/elara-sim-instrumented"

echo "pgo_build: 2/3 training run" >&2
train() {
  "$profile_dir/elara-sim-instrumented" run "$@" --quiet --json - >/dev/null
}
train --nodes 10000 --seed 7 --mode hybrid --broadcasts 20 \
  --payload-bytes 1024 --loss 0.01 --latency-ms 10:80
train --nodes 2000 --seed 5 --broadcasts 30 --partition 0.5@3s-10s \
  --crash 0.2@5s
train --nodes 1000 --seed 7 --mode pull --broadcasts 10 --drain 20s
train --nodes 2000 --seed 4 --broadcasts 20 --churn 5 --bootstrap protocol \
  --join-spread 3s --warmup 5s
train --nodes 1000 --seed 9 --state-writes-per-s 50 --partition 0.5@3s-10s \
  --warmup 2s

echo "pgo_build: 3/3 optimised build" >&2
bazel build -c opt --copt=-fprofile-use="$profile_dir" \
  --copt=-fprofile-partial-training --copt=-Wno-missing-profile \
  --linkopt=-fprofile-use="$profile_dir" \
  --linkopt=-fprofile-partial-training //tools:elara-sim

# Same run, same trace hash: the profile changes code layout and inlining,
# never results.
check=(run --nodes 2000 --seed 7 --mode hybrid --broadcasts 20
  --payload-bytes 1024 --loss 0.01 --latency-ms 10:80 --quiet --json -)
hash_of() { "$@" "${check[@]}" | sed -n 's/.*"trace_hash": *"\([0-9a-f]*\)".*/\1/p'; }
want="$(hash_of "$profile_dir/elara-sim-instrumented")"
got="$(hash_of "$sim")"
if [ -z "$want" ] || [ "$want" != "$got" ]; then
  echo "pgo_build: trace hash differs from the instrumented build's" \
    "($got vs $want); not copying" >&2
  exit 1
fi
cp -f "$sim" "$out"
chmod u+w "$out"
echo "pgo_build: $out (trace hash check $got)" >&2
