#!/usr/bin/env bash
# Builds selattn (tools/build.sh) and runs the whole test suite with ctest.
# Fails when any test fails. This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh "$@"
ctest --test-dir build --output-on-failure -j 2
