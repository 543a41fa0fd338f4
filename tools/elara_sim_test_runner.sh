#!/usr/bin/env bash
# Runs elara-sim for a Bazel test (the elara_convergence_test macro in
# tools/elara_sim.bzl): $1 is the elara-sim binary, the rest its arguments.
# The JSON report goes to the test's undeclared outputs when Bazel provides
# that directory. The exit code is elara-sim's: 0 ok, 1 check failed, 2 bad
# input.
set -uo pipefail
bin="$1"
shift
json=()
if [[ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]]; then
  json=(--json "${TEST_UNDECLARED_OUTPUTS_DIR}/elara_sim.json")
fi
echo "+ elara-sim $* ${json[*]}" >&2
exec "$bin" "$@" "${json[@]}"
