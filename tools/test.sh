#!/usr/bin/env bash
# Builds selattn (tools/build.sh) and runs the whole test suite with ctest.
# Fails when any test fails. This is what .ci/run calls.
#
# The server tests drive `selattn serve` with the official openai Python
# client and put nginx in front of two replicas; the recall generator tests
# need tokenizers and numpy: this installs nginx-light and python3-venv
# (Debian) and those packages into build/pyenv when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh "$@"

tools/apt_install.sh nginx-light python3-venv
if [[ ! -x build/pyenv/bin/python3 ]] || ! build/pyenv/bin/python3 -c "import openai, tokenizers, numpy" 2>/dev/null; then
  python3 -m venv build/pyenv
  build/pyenv/bin/pip install -q --disable-pip-version-check openai tokenizers numpy
fi

ctest --test-dir build --output-on-failure -j 2
