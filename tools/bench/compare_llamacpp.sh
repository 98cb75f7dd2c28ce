#!/usr/bin/env bash
# Benchmarks selattn against llama.cpp on this CPU, on the same models, with the same
# thread count, and prints a markdown table of tokens per second.
#
#   tools/bench/compare_llamacpp.sh [--rounds N] [--only 124m|bundled] [--skip-build]
#                                   [--selattn BIN] [--help]
#
# What it does (each step is skipped when its output already exists, so a second run
# only measures):
#   1. A Python venv in build-peers/venv with CPU PyTorch, transformers, safetensors,
#      numpy, sentencepiece and what llama.cpp's converter (gguf-py) needs.
#   2. llama.cpp from the llama-cpp-python source package on PyPI (it vendors llama.cpp
#      under vendor/llama.cpp), built CPU-only and native (-march=native, no BLAS/CUDA)
#      in build-peers/llama.cpp-build: llama-bench (and llama-server, optional).
#   3. GPT-2 124M-shape models with random weights (tools/bench/make_gpt2_shape.py),
#      as f32 and f16 safetensors folders in build-peers/models.
#   4. GGUF files made with llama.cpp's own converter (tools/bench/convert_hf_gguf.py):
#      the 124M model as f32, f16, q8_0 and bf16, and the bundled models/selattn-4l256-base
#      as f16 (its safetensors are f16).
#   5. Measurements, alternating the engines: in each round, for each case, selattn runs
#      once and then llama.cpp runs once (`selattn bench` and `llama-bench`, both with
#      --reps timed repetitions after their default warm-up, averaged), so slow drifts of the machine hit
#      both alike. The table gives the median and the mean ± standard deviation over the
#      rounds, and the ratio of the medians. Peak RSS
#      of both on the 124M f16 decode-after-depth case is measured with /usr/bin/time -v.
#
# Cases (2 threads):
#   gpt2-124m, weights f32, f16, q8 (llama.cpp q8_0) and bf16:
#     tg128         decode 128 tokens at the context's start     (llama-bench -p 0 -n 128)
#     tg128@d896    decode 128 tokens after 896 in the context   (llama-bench -p 0 -n 128 -d 896)
#     pp512         one 512-token prompt                         (llama-bench -p 512 -n 0)
#   selattn-4l256-base, weights f16:
#     tg128         decode 128 tokens at the context's start     (llama-bench -p 0 -n 128)
#     pp2048        one 2048-token prompt                        (llama-bench -p 2048 -n 0)
#     tg128@d1900   decode 128 tokens after 1900                 (llama-bench -p 0 -n 128 -d 1900)
# GPT-2 124M has 1024 positions: 896 + 128 fills them exactly (900 + 128 does not fit:
# selattn refuses it and llama-bench aborts reading position 1024). A decode test times
# 128 one-token forward passes after an untimed prefill of the depth; llama-bench feeds
# random tokens, selattn bench the argmax of each step's logits (one pass over the
# vocabulary, small beside the forward pass).
#
# Weights map as follows: selattn reads the safetensors folder and converts at load
# (--weights f32|f16|bf16|q8: q8 is 8-bit with one scale per 32 weights, as llama.cpp's
# q8_0); llama.cpp reads the GGUF file of that type. f32, q8 and bf16 come from the f32
# folder, f16 from the f16 folder. K/V: llama-bench keeps its cache in f16 by default,
# so selattn runs with --kv-type f16 as well (--kv-type f32 measures selattn's exact cache).
#
# Everything downloaded or built goes to build-peers/ (ignored by git). Results:
# build-peers/results/compare-<date>.{md,json}, with every raw run under
# build-peers/results/compare-<date>-raw/. Network: PyPI (and Debian's archive for the
# `time` package when /usr/bin/time is missing). Heavy steps run under `nice -n 19` with
# 2 build jobs; the measurements themselves run at normal priority, so run this on an
# otherwise idle machine.
#
# Environment: LLAMA_CPP_PYTHON_VERSION (default 0.3.36: the llama-cpp-python release whose
# vendored llama.cpp is built), COMPARE_THREADS (default 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_DIR="$ROOT/tools/bench"
PEERS="$ROOT/build-peers"
VENV="$PEERS/venv"
PY="$VENV/bin/python"
LCP_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
SDIST="$PEERS/dl/llama_cpp_python-$LCP_VERSION.tar.gz"
LLAMA_SRC="$PEERS/src/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp"
LLAMA_BUILD="$PEERS/llama.cpp-build"
LLAMA_BENCH="$LLAMA_BUILD/bin/llama-bench"
MODELS="$PEERS/models"
GGUF="$PEERS/gguf"
RESULTS="$PEERS/results"
THREADS="${COMPARE_THREADS:-2}"
BUNDLED="$ROOT/models/selattn-4l256-base"
DEPTH_124M=896      # 124M has 1024 positions: depth + 128 decoded tokens must fit
DEPTH_BUNDLED=1900  # the bundled model has 2048
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"

ROUNDS=3
ONLY=all
SKIP_BUILD=0
SELATTN="$ROOT/build/bin/selattn"
SELATTN_GIVEN=0
KV_TYPE=f16
REPS=3

usage() {
  # The header comment above, without the shebang.
  sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --rounds N          rounds of measurement (default 3); each runs every case once per engine
  --only 124m|bundled measure only the GPT-2 124M-shape cases, or only the bundled model's
  --skip-build        do not build llama.cpp or selattn (fail if a binary is missing)
  --selattn BIN       selattn binary (default build/bin/selattn; given this, selattn is not built)
  --kv-type f16|f32   selattn's K/V element type (default f16, as llama-bench's cache)
  --reps N            timed repetitions inside each invocation, averaged (default 3): the
                      first tens of milliseconds of a process run slower on this machine
                      (for both engines), which a single short run would mostly measure
  -h, --help          this text
EOF
}

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { echo "compare_llamacpp.sh: error: $*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS="$2"; shift 2 ;;
    --only) [[ $# -ge 2 ]] || die "--only needs 124m or bundled"; ONLY="$2"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --selattn) [[ $# -ge 2 ]] || die "--selattn needs a path"; SELATTN="$2"; SELATTN_GIVEN=1; shift 2 ;;
    --kv-type) [[ $# -ge 2 ]] || die "--kv-type needs f16 or f32"; KV_TYPE="$2"; shift 2 ;;
    --reps) [[ $# -ge 2 ]] || die "--reps needs a number"; REPS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds: expected a whole number >= 1, found '$ROUNDS'"
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps: expected a whole number >= 1, found '$REPS'"
case "$ONLY" in all|124m|bundled) ;; *) die "--only: expected 124m or bundled, found '$ONLY'" ;; esac
case "$KV_TYPE" in f16|f32) ;; *) die "--kv-type: expected f16 or f32, found '$KV_TYPE'" ;; esac
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "COMPARE_THREADS: expected a whole number >= 1, found '$THREADS'"
[[ "$SELATTN" = /* ]] || SELATTN="$PWD/$SELATTN"
want_124m() { [[ "$ONLY" == all || "$ONLY" == 124m ]]; }
want_bundled() { [[ "$ONLY" == all || "$ONLY" == bundled ]]; }

mkdir -p "$PEERS/dl" "$PEERS/src" "$MODELS" "$GGUF" "$RESULTS"
command -v python3 >/dev/null || die "python3 not found"
command -v cmake >/dev/null || die "cmake not found (Debian: apt-get install cmake build-essential)"

# ---------------------------------------------------------------------------------------
# 1a. The venv and PyTorch. PyTorch's CPU-only index is used when it answers; otherwise the
#     plain PyPI wheel (it pulls CUDA libraries, a few GB, but runs on the CPU alike).
# ---------------------------------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  log "creating the Python venv $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
if ! "$PY" -c "import torch" 2>/dev/null; then
  log "installing PyTorch (CPU index first, PyPI otherwise)"
  if ! nice -n 19 "${PIP[@]}" install --quiet --retries 0 --timeout 20 --index-url "$TORCH_CPU_INDEX" torch 2>/dev/null; then
    log "the PyTorch CPU index is not reachable; installing torch from PyPI"
    nice -n 19 "${PIP[@]}" install --quiet torch || die "pip install torch failed"
  fi
fi

# ---------------------------------------------------------------------------------------
# 2a. llama.cpp's source: the llama-cpp-python sdist, which vendors a llama.cpp checkout.
# ---------------------------------------------------------------------------------------
if [[ ! -f "$SDIST" ]]; then
  log "downloading the llama-cpp-python $LCP_VERSION source package (vendors llama.cpp)"
  nice -n 19 "${PIP[@]}" download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LCP_VERSION" -d "$PEERS/dl" \
    || die "pip download llama-cpp-python==$LCP_VERSION failed"
  [[ -f "$SDIST" ]] || die "pip download gave no $SDIST"
fi
if [[ ! -f "$LLAMA_SRC/convert_hf_to_gguf.py" ]]; then
  log "extracting $(basename "$SDIST")"
  tmp="$PEERS/src/.extract.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$SDIST" -C "$tmp"
  [[ -f "$tmp/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" ]] \
    || die "$SDIST has no vendor/llama.cpp/convert_hf_to_gguf.py"
  rm -rf "$PEERS/src/llama_cpp_python-$LCP_VERSION"
  mv "$tmp/llama_cpp_python-$LCP_VERSION" "$PEERS/src/"
  rmdir "$tmp"
fi

# The vendored llama.cpp is a shallow git checkout (its .git points into the sdist's own
# .git): it knows its commit but not the build number (the commit count). Git must not
# look above build-peers/src, where it would find this repository instead.
export GIT_CEILING_DIRECTORIES="$PEERS/src"
LLAMA_COMMIT="$(git -C "$LLAMA_SRC" rev-parse --short=9 HEAD 2>/dev/null || true)"
LLAMA_COMMIT_DATE="$(git -C "$LLAMA_SRC" log -1 --format=%cs 2>/dev/null || true)"
if [[ -z "$LLAMA_COMMIT" ]]; then
  # No git metadata: the sdist's changelog names the llama.cpp commit of each release.
  LLAMA_COMMIT="$(sed -n "/^## \[$LCP_VERSION\]/,/^## \[/p" "$LLAMA_SRC/../../CHANGELOG.md" \
    | grep -o -m1 'llama.cpp@[0-9a-f]*' | cut -d@ -f2 || true)"
  LLAMA_COMMIT="${LLAMA_COMMIT:-unknown}"
fi
GGML_VERSION="$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' "$LLAMA_SRC/ggml/CMakeLists.txt" | paste -sd.)"
log "llama.cpp: commit $LLAMA_COMMIT${LLAMA_COMMIT_DATE:+ ($LLAMA_COMMIT_DATE)}, ggml $GGML_VERSION, vendored by llama-cpp-python $LCP_VERSION"

# ---------------------------------------------------------------------------------------
# 1b. The Python packages for making the models and for llama.cpp's converter: transformers
#     at the version the vendored converter pins, and gguf-py's own requirements (gguf-py
#     itself is used from the vendored tree, not from PyPI).
# ---------------------------------------------------------------------------------------
DEPS_STAMP="$VENV/.compare-deps-$LCP_VERSION"
if [[ ! -f "$DEPS_STAMP" ]]; then
  req="$LLAMA_SRC/requirements/requirements-convert_legacy_llama.txt"
  transformers_pin="$(grep -o -m1 '^transformers[=<>~!].*' "$req" 2>/dev/null | tr -d ' ' || true)"
  transformers_pin="${transformers_pin:-transformers}"
  log "installing $transformers_pin, safetensors, numpy, sentencepiece and gguf-py's requirements"
  nice -n 19 "${PIP[@]}" install --quiet "$transformers_pin" safetensors numpy sentencepiece \
    "protobuf>=4.21.0,<5.0.0" tqdm pyyaml requests || die "pip install of the Python packages failed"
  "$PY" -c "import torch, transformers, safetensors, numpy, sentencepiece, yaml, tqdm" \
    || die "the venv cannot import its packages"
  "$PY" -m pip freeze --disable-pip-version-check > "$DEPS_STAMP"
fi
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)')"
TRANSFORMERS_VERSION="$("$PY" -c 'import transformers; print(transformers.__version__)')"

# ---------------------------------------------------------------------------------------
# 2b. Build llama.cpp: CPU only, native, Release, no BLAS/CUDA/Metal/Vulkan, no curl or
#     OpenSSL, no web UI download; static libraries so the binaries stand alone.
# ---------------------------------------------------------------------------------------
if [[ ! -x "$LLAMA_BENCH" ]]; then
  ((SKIP_BUILD == 0)) || die "--skip-build given but $LLAMA_BENCH is not built"
  log "configuring llama.cpp in $LLAMA_BUILD"
  nice -n 19 cmake -S "$LLAMA_SRC" -B "$LLAMA_BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_BLAS=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_COMMIT="$LLAMA_COMMIT" -DLLAMA_BUILD_NUMBER=0 > "$LLAMA_BUILD.configure.log" 2>&1 \
    || die "llama.cpp configure failed; see $LLAMA_BUILD.configure.log"
  log "building llama-bench and llama-server (2 jobs, a while on 2 cores; log: $LLAMA_BUILD.build.log)"
  if ! nice -n 19 cmake --build "$LLAMA_BUILD" -j2 --target llama-bench llama-server > "$LLAMA_BUILD.build.log" 2>&1; then
    log "building both failed; building llama-bench alone (llama-server is optional)"
    nice -n 19 cmake --build "$LLAMA_BUILD" -j2 --target llama-bench >> "$LLAMA_BUILD.build.log" 2>&1 \
      || die "llama-bench failed to build; see $LLAMA_BUILD.build.log"
  fi
  [[ -x "$LLAMA_BENCH" ]] || die "the build gave no $LLAMA_BENCH"
fi
# (Help texts are read whole before grep: `grep -q` closing the pipe early would fail it under pipefail.)
llama_help="$("$LLAMA_BENCH" --help 2>&1 || true)"
grep -q -- '--n-depth' <<< "$llama_help" || die "$LLAMA_BENCH has no -d/--n-depth option"

# ---------------------------------------------------------------------------------------
# 3. The GPT-2 124M-shape models (random weights, seed 0): f32 and f16 folders.
# ---------------------------------------------------------------------------------------
if want_124m; then
  for dtype in f32 f16; do
    out="$MODELS/gpt2-124m-$dtype"
    if [[ ! -f "$out/model.safetensors" || ! -f "$out/config.json" ]]; then
      log "making $out"
      rm -rf "$out.part"
      nice -n 19 "$PY" "$BENCH_DIR/make_gpt2_shape.py" --out "$out.part" --dtype "$dtype" --seed 0 >&2 \
        || die "make_gpt2_shape.py --dtype $dtype failed"
      rm -rf "$out" && mv "$out.part" "$out"
    fi
  done
fi

# ---------------------------------------------------------------------------------------
# 4. GGUF files, with llama.cpp's converter. The bundled model's tokenizer is a new 8192-token
#    vocabulary with GPT-2's pre-tokenizer; the converter recognises pre-tokenizers by a hash
#    of test tokenizations and refuses it, so convert_hf_gguf.py is told to write "gpt-2"
#    for it (only when the hash is unknown and tokenizer.json declares GPT-2's
#    pre-tokenizer; the converter's files stay as shipped).
# ---------------------------------------------------------------------------------------
convert() {  # convert SRC_DIR OUTTYPE OUT.gguf [extra args]
  local src="$1" outtype="$2" out="$3"
  shift 3
  [[ -f "$out" ]] && return 0
  log "converting $(basename "$src") to $(basename "$out")"
  if ! nice -n 19 "$PY" "$BENCH_DIR/convert_hf_gguf.py" --llama-cpp "$LLAMA_SRC" "$@" "$src" \
      --outtype "$outtype" --outfile "$out.part" > "$out.log" 2>&1; then
    rm -f "$out.part"
    return 1
  fi
  mv "$out.part" "$out"
}
HAVE_BF16=0
if want_124m; then
  convert "$MODELS/gpt2-124m-f32" f32 "$GGUF/gpt2-124m-f32.gguf" || die "conversion to f32 failed; see $GGUF/gpt2-124m-f32.gguf.log"
  convert "$MODELS/gpt2-124m-f16" f16 "$GGUF/gpt2-124m-f16.gguf" || die "conversion to f16 failed; see $GGUF/gpt2-124m-f16.gguf.log"
  convert "$MODELS/gpt2-124m-f32" q8_0 "$GGUF/gpt2-124m-q8_0.gguf" || die "conversion to q8_0 failed; see $GGUF/gpt2-124m-q8_0.gguf.log"
  if convert "$MODELS/gpt2-124m-f32" bf16 "$GGUF/gpt2-124m-bf16.gguf"; then
    HAVE_BF16=1
  else
    log "bf16 conversion failed (see $GGUF/gpt2-124m-bf16.gguf.log): the bf16 cases are left out"
  fi
fi
if want_bundled; then
  [[ -f "$BUNDLED/model.safetensors" ]] || die "$BUNDLED/model.safetensors not found"
  convert "$BUNDLED" f16 "$GGUF/selattn-4l256-base-f16.gguf" --pre-tokenizer-fallback gpt-2 \
    || die "conversion of the bundled model failed; see $GGUF/selattn-4l256-base-f16.gguf.log"
fi

# ---------------------------------------------------------------------------------------
# selattn: built here (target selattn_cli in build/) unless --skip-build or --selattn.
# ---------------------------------------------------------------------------------------
if ((SKIP_BUILD == 0 && SELATTN_GIVEN == 0)); then
  if [[ -f "$ROOT/build/CMakeCache.txt" ]]; then
    log "building selattn (build/, 2 jobs)"
    nice -n 19 cmake --build "$ROOT/build" -j2 --target selattn_cli > "$PEERS/selattn-build.log" 2>&1 \
      || die "the selattn build failed; see $PEERS/selattn-build.log"
  else
    log "configuring and building selattn with tools/build.sh"
    SELATTN_JOBS=2 nice -n 19 bash "$ROOT/tools/build.sh" > "$PEERS/selattn-build.log" 2>&1 \
      || die "tools/build.sh failed; see $PEERS/selattn-build.log"
  fi
fi
[[ -x "$SELATTN" ]] || die "$SELATTN not found (build selattn, or pass --selattn BIN)"
selattn_help="$("$SELATTN" bench --help 2>&1 || true)"
grep -q -- '--json' <<< "$selattn_help" || die "$SELATTN has no 'bench' subcommand with --json"

# `time` (GNU time, for peak RSS): Debian's package when /usr/bin/time is missing.
if [[ ! -x /usr/bin/time ]]; then
  log "installing Debian's 'time' package (for peak RSS)"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq time >/dev/null; }; then
    die "could not install the 'time' package; install it (apt-get install time) and rerun"
  fi
fi

# ---------------------------------------------------------------------------------------
# 5. Measure.
# A case: model label | weights label | test | selattn folder | selattn --weights | GGUF.
# A test: name -> prompt tokens, generated tokens, depth (the same flags for both engines).
# ---------------------------------------------------------------------------------------
test_args() {  # test_args NAME -> "P N D"
  case "$1" in
    tg128) echo "0 128 0" ;;
    "tg128@d$DEPTH_124M") echo "0 128 $DEPTH_124M" ;;
    pp512) echo "512 0 0" ;;
    pp2048) echo "2048 0 0" ;;
    "tg128@d$DEPTH_BUNDLED") echo "0 128 $DEPTH_BUNDLED" ;;
    *) die "unknown test $1" ;;
  esac
}
CASES=()
if want_124m; then
  weights_list=(f32 f16 q8)
  ((HAVE_BF16)) && weights_list+=(bf16)
  for w in "${weights_list[@]}"; do
    case "$w" in
      f32) dir="$MODELS/gpt2-124m-f32"; gguf="$GGUF/gpt2-124m-f32.gguf" ;;
      f16) dir="$MODELS/gpt2-124m-f16"; gguf="$GGUF/gpt2-124m-f16.gguf" ;;
      q8) dir="$MODELS/gpt2-124m-f32"; gguf="$GGUF/gpt2-124m-q8_0.gguf" ;;
      bf16) dir="$MODELS/gpt2-124m-f32"; gguf="$GGUF/gpt2-124m-bf16.gguf" ;;
    esac
    for t in tg128 "tg128@d$DEPTH_124M" pp512; do
      CASES+=("gpt2-124m|$w|$t|$dir|$w|$gguf")
    done
  done
fi
if want_bundled; then
  for t in tg128 pp2048 "tg128@d$DEPTH_BUNDLED"; do
    CASES+=("selattn-4l256-base|f16|$t|$BUNDLED|f16|$GGUF/selattn-4l256-base-f16.gguf")
  done
fi

STAMP="$(date +%Y%m%d-%H%M%S)"
RAW="$RESULTS/compare-$STAMP-raw"
MANIFEST="$RAW/runs.tsv"
mkdir -p "$RAW"
: > "$MANIFEST"

# The tokens/s in a bench JSON file (one test, one object).
avg_ts() { python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))[0]["avg_ts"])' "$1"; }

# run_engine ENGINE OUT_PREFIX CASE -> OUT_PREFIX.json (stdout) and OUT_PREFIX.log (stderr)
run_engine() {
  local engine="$1" out="$2" model weights test dir sw gguf p n d
  IFS='|' read -r model weights test dir sw gguf <<< "$3"
  read -r p n d <<< "$(test_args "$test")"
  local cmd
  if [[ "$engine" == selattn ]]; then
    cmd=("$SELATTN" bench -m "$dir" --weights "$sw" --kv-type "$KV_TYPE" -p "$p" -n "$n" --depth "$d" -t "$THREADS" -r "$REPS" --json)
  else
    cmd=("$LLAMA_BENCH" -m "$gguf" -p "$p" -n "$n" -d "$d" -t "$THREADS" -r "$REPS" -o json)
  fi
  echo "${cmd[*]}" > "$out.cmd"
  if ! "${cmd[@]}" > "$out.json" 2> "$out.log"; then
    echo "--- last lines of $out.log:" >&2
    tail -n 15 "$out.log" >&2
    die "$engine failed on $model $weights $test: ${cmd[*]}"
  fi
}

log "measuring ${#CASES[@]} cases x $ROUNDS rounds x 2 engines, $THREADS threads; raw runs in $RAW"
for ((r = 1; r <= ROUNDS; r++)); do
  for c in "${CASES[@]}"; do
    IFS='|' read -r model weights test _ <<< "$c"
    id="r$r-$model-$weights-$test"
    run_engine selattn "$RAW/$id-selattn" "$c"
    run_engine llama.cpp "$RAW/$id-llama.cpp" "$c"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$model" "$weights" "$test" selattn "$RAW/$id-selattn.json" >> "$MANIFEST"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$model" "$weights" "$test" llama.cpp "$RAW/$id-llama.cpp.json" >> "$MANIFEST"
    log "round $r/$ROUNDS  $model $weights $test: selattn $(avg_ts "$RAW/$id-selattn.json") tok/s," \
        "llama.cpp $(avg_ts "$RAW/$id-llama.cpp.json") tok/s"
  done
done

# Peak RSS of one run of each engine, 124M f16 decode after depth.
RSS_ARGS=()
RSS_CASE=""
if want_124m; then
  c="gpt2-124m|f16|tg128@d$DEPTH_124M|$MODELS/gpt2-124m-f16|f16|$GGUF/gpt2-124m-f16.gguf"
  RSS_CASE="gpt2-124m f16 tg128@d$DEPTH_124M, one run under /usr/bin/time -v"
  for engine in selattn llama.cpp; do
    out="$RAW/rss-$engine"
    # /usr/bin/time wraps the same command run_engine would run.
    read -r p n d <<< "$(test_args "tg128@d$DEPTH_124M")"
    if [[ "$engine" == selattn ]]; then
      cmd=("$SELATTN" bench -m "$MODELS/gpt2-124m-f16" --weights f16 --kv-type "$KV_TYPE" -p "$p" -n "$n" --depth "$d" -t "$THREADS" -r 1 --json)
    else
      cmd=("$LLAMA_BENCH" -m "$GGUF/gpt2-124m-f16.gguf" -p "$p" -n "$n" -d "$d" -t "$THREADS" -r 1 -o json)
    fi
    /usr/bin/time -v -o "$out.time" "${cmd[@]}" > "$out.json" 2> "$out.log" \
      || die "$engine failed under /usr/bin/time: ${cmd[*]} (see $out.log)"
    kib="$(sed -n 's/^\s*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$out.time")"
    [[ -n "$kib" ]] || die "no peak RSS in $out.time"
    RSS_ARGS+=(--rss "$engine=$kib")
    log "peak RSS, $engine ($RSS_CASE): $((kib / 1024)) MiB"
  done
fi

# llama-bench's own record of its build, from its first JSON output.
first_llama="$(awk -F'\t' '$5 == "llama.cpp" {print $6; exit}' "$MANIFEST")"
LLAMA_BUILD_INFO="$(python3 -c 'import json, sys
o = json.load(open(sys.argv[1]))[0]
keys = ("build_commit", "build_number", "type_k", "type_v", "n_batch", "n_ubatch", "flash_attn", "repack")
print(", ".join("%s %s" % (k, o.get(k)) for k in keys))' "$first_llama")"
SELATTN_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- src include tools 2>/dev/null)" ]]; then
  SELATTN_REV="$SELATTN_REV (with uncommitted changes)"
fi
CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name:\s*//p' || true)"
CPU="${CPU%%$'\n'*}"

python3 "$BENCH_DIR/compare_table.py" --manifest "$MANIFEST" \
  --out-json "$RESULTS/compare-$STAMP.json" --out-md "$RESULTS/compare-$STAMP.md" \
  --meta "date=$(date '+%Y-%m-%d %H:%M %Z')" \
  --meta "cpu=${CPU:-unknown}, $(nproc) cores" \
  --meta "threads=$THREADS" \
  --meta "rounds=$ROUNDS (each: selattn then llama.cpp, $REPS timed repetitions each, averaged, after a warm-up)" \
  --meta "selattn=$SELATTN_REV, K/V cache $KV_TYPE" \
  --meta "llama.cpp=commit $LLAMA_COMMIT${LLAMA_COMMIT_DATE:+ ($LLAMA_COMMIT_DATE)}, ggml $GGML_VERSION, from llama-cpp-python $LCP_VERSION; llama-bench: $LLAMA_BUILD_INFO" \
  --meta "converter=torch $TORCH_VERSION, transformers $TRANSFORMERS_VERSION" \
  --rss-case "$RSS_CASE" "${RSS_ARGS[@]}"
log "wrote $RESULTS/compare-$STAMP.md and $RESULTS/compare-$STAMP.json"
