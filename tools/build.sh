#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages), configures and builds
# selattn into build/ with 2 parallel jobs. Extra arguments go to cmake.
#   tools/build.sh                      # Release build, CUDA target when nvcc is found
#   tools/build.sh -DSELATTN_CUDA=OFF   # CPU only
set -euo pipefail
cd "$(dirname "$0")/.."

tools/apt_install.sh build-essential cmake pkg-config nlohmann-json3-dev libcli11-dev libspdlog-dev libgtest-dev \
                    libbenchmark-dev libpcre2-dev libcpp-httplib-dev

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "${SELATTN_JOBS:-2}"
