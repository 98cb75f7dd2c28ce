#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages), configures and builds
# selattn into build/ with 2 parallel jobs. Extra arguments go to cmake.
#   tools/build.sh                      # Release build, CUDA target when nvcc is found
#   tools/build.sh -DSELATTN_CUDA=OFF   # CPU only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config nlohmann-json3-dev libcli11-dev libspdlog-dev libgtest-dev
          libbenchmark-dev libpcre2-dev libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "selattn: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "${SELATTN_JOBS:-2}"
