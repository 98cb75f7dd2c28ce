#!/usr/bin/env bash
# shellcheck disable=SC2317  # the job functions are called through run_job
# The sanitizer jobs of CI (.ci/run calls this after tools/test.sh). Each job
# builds into its own folder and prints a header, its result and its time:
#   asan  the ctest suite under AddressSanitizer + UndefinedBehaviorSanitizer
#         (g++, build-asan/), every test but the labels bundled and package
#   tsan  the tests that run threads and the server's, under ThreadSanitizer
#         (g++, build-tsan/)
#   fuzz  every libFuzzer target in tests/fuzz for $SELATTN_FUZZ_SECONDS
#         (default 30) on its seed corpus (clang, build-fuzz/)
# Fails when any job fails.
#   tools/ci_sanitizers.sh              # all three
#   tools/ci_sanitizers.sh tsan fuzz    # some of them
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${SELATTN_JOBS:-2}
fuzz_seconds=${SELATTN_FUZZ_SECONDS:-30}
selected=("$@")
((${#selected[@]})) || selected=(asan tsan fuzz)

# tools/build.sh's packages, plus clang and its runtimes (libFuzzer) for the
# fuzz build; g++'s sanitizer runtimes come with g++ itself.
tools/apt_install.sh build-essential cmake pkg-config nlohmann-json3-dev libcli11-dev libspdlog-dev libgtest-dev \
                    libbenchmark-dev libpcre2-dev libcpp-httplib-dev clang libclang-rt-14-dev

# Sanitizer builds: -O1 with line tables keeps them fast to build and run
# while stacks still name files and lines. No CUDA, no benchmarks.
common=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
        -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DSELATTN_CUDA=OFF -DSELATTN_BUILD_BENCH=OFF)

# quiet LOG CMD...: runs CMD with its output in LOG, shown (the end) only
# when it fails. Jobs run under `||`, where set -e does not apply, so every
# step checks its own status.
quiet() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  "$@" >"$log" 2>&1 && return 0
  echo "failed: $* (the end of $log:)"
  tail -n 40 "$log" | sed 's/^/    /'
  return 1
}

results=()
failed=0
script_start=$SECONDS

# run_job NAME FUNCTION: a header, the job, its verdict and time.
run_job() {
  local name=$1 fn=$2 start=$SECONDS rc=0
  printf '\n==== %s ====  (%s)\n' "$name" "$(date '+%H:%M:%S')"
  "$fn" || rc=$?
  local t=$((SECONDS - start))
  if ((rc == 0)); then
    printf '==== %s: passed in %dm%02ds\n' "$name" $((t / 60)) $((t % 60))
    results+=("$(printf '%-6s passed  %dm%02ds' "$name" $((t / 60)) $((t % 60)))")
  else
    printf '==== %s: FAILED (exit %d) in %dm%02ds\n' "$name" "$rc" $((t / 60)) $((t % 60))
    results+=("$(printf '%-6s FAILED  %dm%02ds' "$name" $((t / 60)) $((t % 60)))")
    failed=1
  fi
}

# ---- asan: AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite ----
job_asan() {
  local san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  quiet build-asan/ci-configure.log cmake -S . -B build-asan "${common[@]}" -DCMAKE_CXX_FLAGS="$san" \
        -DCMAKE_C_FLAGS="$san" || return 1
  quiet build-asan/ci-build.log cmake --build build-asan -j "$jobs" || return 1
  # Excluded:
  #  - label bundled: the same code on the bundled 4-layer model, minutes of
  #    compute under ASan; the fixture models cover it.
  #  - label package: it installs this build and compiles consumers with
  #    plain flags against the ASan-instrumented static library, which
  #    cannot link without the sanitizer runtime.
  #  - Chat.ALongConversationUnderABudgetKeepsItsMemoryFlat: it bounds the
  #    growth of the process's RSS, which ASan's quarantine of freed memory
  #    and its shadow pages grow by design (tools/test.sh runs it).
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -LE 'bundled|package' -E '^Chat\.ALongConversationUnderABudgetKeepsItsMemoryFlat$' \
          --output-on-failure --timeout 900 -j "$jobs"
}

# ---- tsan: ThreadSanitizer on the tests that run threads ----
# Every session runs on its model's worker threads; these tests add threads
# of their own: the thread pool, sessions and prefills on several threads,
# cancel() from another thread, the shared tokenizer cache, thread-count
# limits, f16 K/V chunked prefill, many sessions' attention side by side in
# one batched step. Tests named *Thread* join automatically
# (their binary must be in tsan_targets). Tests labelled server run too:
# they drive `selattn serve` (selattn_cli), whose requests run on threads.
tsan_targets=(core_test session_test generate_lib_test limits_test selattn_tokenizer_unit_test kv_type_test
              batch_test selattn_cli)
tsan_regex='Thread|KvType|^Session\.|^Generate\.|^DecodeBatch\.'
job_tsan() {
  local san="-fsanitize=thread -fno-omit-frame-pointer"
  quiet build-tsan/ci-configure.log cmake -S . -B build-tsan "${common[@]}" -DCMAKE_CXX_FLAGS="$san" \
        -DCMAKE_C_FLAGS="$san" || return 1
  quiet build-tsan/ci-build.log cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}" || return 1
  local rc=0
  TSAN_OPTIONS=second_deadlock_stack=1 \
    ctest --test-dir build-tsan -R "$tsan_regex" --output-on-failure --timeout 900 -j "$jobs" || rc=1
  if ctest --test-dir build-tsan -N -L server | grep -q 'Total Tests: [1-9]'; then
    TSAN_OPTIONS=second_deadlock_stack=1 \
      ctest --test-dir build-tsan -L server --output-on-failure --timeout 900 -j "$jobs" || rc=1
  fi
  return "$rc"
}

# ---- fuzz: each libFuzzer target for a while on its seed corpus ----
# run_fuzzer NAME: new inputs go to build-fuzz/run/NAME (the seeds stay
# as written), crashes to build-fuzz/artifacts/; the log is printed on failure.
run_fuzzer() {
  local t=$1 seeds=build-fuzz/tests/fuzz/corpus/${1#fuzz_}
  local log=build-fuzz/logs/$t.log rc=0
  rm -rf "build-fuzz/run/$t"
  mkdir -p "build-fuzz/run/$t" build-fuzz/artifacts build-fuzz/logs build-fuzz/tmp
  # TMPDIR: the targets' scratch folders stay in the build, even after a crash.
  TMPDIR=$PWD/build-fuzz/tmp UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/bin/$t" -max_total_time="$fuzz_seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$t-" "build-fuzz/run/$t" "$seeds" >"$log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if ((rc == 0)); then
    printf '  %-20s ok      %8s execs, corpus %s -> %s files\n' "$t" "${execs:-?}" \
      "$(find "$seeds" -type f | wc -l)" "$(find "build-fuzz/run/$t" -type f | wc -l)"
  else
    printf '  %-20s CRASHED (exit %d) after %s execs; log %s:\n' "$t" "$rc" "${execs:-?}" "$log"
    grep -v -E '^#[0-9]+|NEW_FUNC|^\s*$' "$log" | tail -n 60 | sed 's/^/    /'
  fi
  return "$rc"
}

job_fuzz() {
  local san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  quiet build-fuzz/ci-configure.log cmake -S . -B build-fuzz "${common[@]}" -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ -DSELATTN_FUZZ=ON -DSELATTN_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="$san" || return 1
  quiet build-fuzz/ci-build.log cmake --build build-fuzz -j "$jobs" --target selattn_fuzz || return 1
  local targets
  mapfile -t targets < <(find build-fuzz/bin -maxdepth 1 -type f -name 'fuzz_*' -printf '%f\n' | sort)
  ((${#targets[@]})) || { echo "no fuzz targets in build-fuzz/bin"; return 1; }
  echo "  ${#targets[@]} targets, ${fuzz_seconds} s each, $jobs at a time"
  # $jobs fuzzers at once; each writes its own verdict to a file.
  rm -rf build-fuzz/verdicts && mkdir -p build-fuzz/verdicts
  local t running=0
  for t in "${targets[@]}"; do
    (run_fuzzer "$t" && touch "build-fuzz/verdicts/$t.ok") &
    running=$((running + 1))
    if ((running >= jobs)); then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait || true
  local ok
  ok=$(find build-fuzz/verdicts -name '*.ok' | wc -l)
  ((ok == ${#targets[@]}))
}

for j in "${selected[@]}"; do
  case $j in
    asan) run_job "ASan+UBSan: ctest -LE 'bundled|package' (build-asan)" job_asan ;;
    tsan) run_job "TSan: ctest -R '$tsan_regex', ctest -L server (build-tsan)" job_tsan ;;
    fuzz) run_job "fuzz: libFuzzer smoke, ${fuzz_seconds} s a target (build-fuzz)" job_fuzz ;;
    *) echo "ci_sanitizers: unknown job '$j' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done

t=$((SECONDS - script_start))
printf '\n==== sanitizer jobs: %dm%02ds in all\n' $((t / 60)) $((t % 60))
printf '  %s\n' "${results[@]}"
exit $failed
