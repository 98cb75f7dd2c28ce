#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds two consumers against
# it, as an app would: C++ and C through find_package(selattn), and C through
# pkg-config. Then runs them on a fixture model.
#   test_install.sh BUILD_DIR SOURCE_DIR MODEL_DIR
set -euo pipefail
build=$1 src=$2 model=$3
work=$(mktemp -d "$build/package-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/package/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer" -j 2 >/dev/null
"$work/consumer/consumer_cpp" "$model"
"$work/consumer/consumer_c" "$model"
# pkg-config: a static libselattn brings its private dependencies with --static.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig:${PKG_CONFIG_PATH:-}"
# shellcheck disable=SC2046  # the flags are meant to split
cc -std=c99 -o "$work/consumer_c_pkgconfig" "$src/tests/package/consumer/consumer.c" \
   $(pkg-config --cflags --libs --static selattn)
# (a shared libselattn in a private prefix is found the usual way, through LD_LIBRARY_PATH)
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/consumer_c_pkgconfig" "$model"
# Consumers must not inherit this build's -march=native or warning flags.
if grep -q -- "-march=native" "$work/prefix"/lib*/cmake/selattn/*.cmake; then
  echo "the installed package leaks -march=native" >&2
  exit 1
fi
# A shared library exports the API and nothing of its internals.
for so in "$work/prefix"/lib*/libselattn.so; do
  [[ -e "$so" ]] || continue
  if nm -DC --defined-only "$so" | grep -E "selattn::(cpu_|PagedKvCache|KvPagePool|gpt2_|pack_weights)" >&2; then
    echo "libselattn.so exports internal symbols (above)" >&2
    exit 1
  fi
  nm -DC --defined-only "$so" | grep -q "selattn::Session::generate" || { echo "libselattn.so lacks the API" >&2; exit 1; }
done
echo "package test: installed, found, built and ran (C++, C, C with pkg-config)"
