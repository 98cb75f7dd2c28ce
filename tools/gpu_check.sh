#!/usr/bin/env bash
# The CUDA backend's check on an NVIDIA GPU (sm_90: H100/H200), in two steps.
#
#   tools/gpu_check.sh prepare   # on a build machine with nvcc: builds build-gpu/
#                                # (CLI + CUDA tests, no -march=native, runtime
#                                # libraries beside it in build-gpu/lib)
#   tools/gpu_check.sh [OUTDIR]  # on the GPU machine, from the repository root,
#                                # with build-gpu/ copied there: runs the CUDA
#                                # tests, then selattn bench --device cuda and
#                                # transformers on the GPT-2 124M shape, and
#                                # writes OUTDIR/gpu_check.md and .json
#                                # (OUTDIR: $OUT, else build-gpu/out)
#
# The GPU machine needs the NVIDIA driver, Python with torch and transformers,
# and the CUDA runtime libraries the build links (libcublas); nothing is built
# there. Budget: under 8 minutes on an H200.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "prepare" ]]; then
  if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
  # No server (it would bring cpp-httplib and OpenSSL along); the CUDA runtime
  # is linked statically, cuBLAS is the GPU machine's own (libcublas.so.13).
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DSELATTN_CUDA=ON -DSELATTN_NATIVE=OFF \
        -DSELATTN_BUILD_BENCH=OFF -DSELATTN_SERVER=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build build-gpu -j "${SELATTN_JOBS:-2}" --target selattn_cli cuda_ops_test cuda_model_test
  mkdir -p build-gpu/lib
  # Libraries from this machine's packages that a GPU machine may lack.
  for lib in libspdlog.so.1.10 libfmt.so.9 libpcre2-8.so.0 libstdc++.so.6; do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    [[ -n "$path" ]] && cp -L "$path" build-gpu/lib/
  done
  strip build-gpu/bin/selattn build-gpu/tests/cuda/cuda_ops_test build-gpu/tests/cuda/cuda_model_test
  du -sh build-gpu/bin build-gpu/lib build-gpu/tests/cuda
  echo "carry: build-gpu/bin build-gpu/lib build-gpu/tests/cuda"
  exit 0
fi

OUTDIR="${1:-${OUT:-build-gpu/out}}"
mkdir -p "$OUTDIR"
export LD_LIBRARY_PATH="$PWD/build-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SELATTN_TEST_DATA="$PWD/tests/data"
BIN=build-gpu/bin/selattn
log() { echo "[gpu_check $(date +%T)] $*" | tee -a "$OUTDIR/gpu_check.log"; }

log "device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUTDIR/gpu_check.log"
if ldd "$BIN" | grep -q "not found"; then
  # cuBLAS 13 may come with PyTorch's wheels (nvidia/cublas/lib) rather than a toolkit.
  extra=$(python3 -c "import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], 'lib'))" \
          2>/dev/null || true)
  [[ -n "$extra" ]] && export LD_LIBRARY_PATH="$extra:$LD_LIBRARY_PATH"
fi
if ldd "$BIN" | grep -q "not found"; then
  log "the carried build cannot start here:"; ldd "$BIN" | grep "not found" | tee -a "$OUTDIR/gpu_check.log"; exit 1
fi

status=0
for t in cuda_ops_test cuda_model_test; do
  log "tests: $t"
  timeout 180 "build-gpu/tests/cuda/$t" --gtest_output="json:$OUTDIR/$t.json" >"$OUTDIR/$t.txt" 2>&1 || status=1
  tail -3 "$OUTDIR/$t.txt" | tee -a "$OUTDIR/gpu_check.log"
done

models="$OUTDIR/models"
for dt in f16 bf16; do
  log "model: GPT-2 124M shape, $dt, 4096 positions"
  python3 tools/bench/make_gpt2_shape.py --out "$models/gpt2-$dt" --dtype "$dt" --n-positions 4096 >/dev/null
done

: >"$OUTDIR/selattn.jsonl"
for dt in f16 bf16; do
  for kv in "none" "selective --kv-budget 64"; do
    log "selattn bench: $dt, policy $kv"
    # shellcheck disable=SC2086
    timeout 150 "$BIN" bench -m "$models/gpt2-$dt" --device cuda -p 512,2048 -n 128 -d 0,512,1024,2048 -r 3 \
      --kv-policy $kv --json 2>>"$OUTDIR/gpu_check.log" |
      python3 -c "import json,sys; [print(json.dumps(dict(r, kv='$kv'.split()[0]))) for r in json.load(sys.stdin)]" \
      >>"$OUTDIR/selattn.jsonl" || status=1
  done
done

: >"$OUTDIR/transformers.jsonl"
for dt in f16 bf16; do
  log "transformers: $dt"
  timeout 150 python3 tools/bench/transformers_gpu.py --model "$models/gpt2-$dt" --dtype "$dt" \
    >>"$OUTDIR/transformers.jsonl" 2>>"$OUTDIR/gpu_check.log" || status=1
done

python3 tools/bench/gpu_table.py --selattn "$OUTDIR/selattn.jsonl" --transformers "$OUTDIR/transformers.jsonl" \
  --md "$OUTDIR/gpu_check.md" --json "$OUTDIR/gpu_check.json"
cat "$OUTDIR/gpu_check.md"
rm -rf "$models"
log "done, status $status"
exit $status
