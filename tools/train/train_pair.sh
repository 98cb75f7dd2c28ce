#!/usr/bin/env bash
# Train models/<name>-sa and models/<name>-base with identical config, data order and
# token count, then export both. Resumable: rerun the same command after a stop.
#
#   bash tools/train/train_pair.sh NAME [TOKENS]        # e.g. NAME=gpt2-4l256 TOKENS=10e6
#
# The two runs alternate in chunks of CHUNK_MIN minutes (default 30) so that both
# advance together; progress goes to tools/train/runs/NAME-{sa,base}/train.log and
# log.csv/val.csv beside it. Environment overrides: CHUNK_MIN, MEM_EPS (SA memory-loss
# weight, default 0.05), BF16 (1 = bf16 autocast; default 0, f32 was faster in the probe),
# WARM_TOKENS (default 0: if > 0, a warm start of that many tokens at WARM_SEQ=512 runs
# first and the 2048-token phase trains TOKENS more from its weights; selective attention
# costs O(T^2) per sequence, so the short phase is ~3x cheaper per token for the SA model),
# EXTRA (more train.py flags for both runs, e.g. "--lr 6e-4"), WARM_EXTRA (more flags for
# the warm phase only, after EXTRA, e.g. its own --train-bin), FROM (fine-tune: start
# NAME-sa from models/$FROM-sa and NAME-base from models/$FROM-base).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${1:?usage: train_pair.sh NAME [TOKENS]}
TOKENS=${2:-10e6}
CHUNK_MIN=${CHUNK_MIN:-30}
MEM_EPS=${MEM_EPS:-0.05}
BF16=${BF16:-0}
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
[ -e "$TCMALLOC" ] && export LD_PRELOAD=$TCMALLOC
[ -e tools/train/runs/corpus/train.bin ] || { echo "no corpus: run bash tools/train/build_corpus.sh first"; exit 1; }

COMMON=(--tokens "$TOKENS" --n-layer 4 --n-head 4 --n-embd 256 --n-positions 2048
        --seq-len 2048 --batch 8 --micro-batch 2 --lr 1e-3 --min-lr 1e-4 --warmup 30
        --data-seed 1 --seed 1234 --eval-every 50 --eval-seqs 16 --ckpt-every 10
        --max-minutes "$CHUNK_MIN")
[ "$BF16" = 1 ] && COMMON+=(--bf16)
# shellcheck disable=SC2206
COMMON+=(${EXTRA:-})

WARM_TOKENS=${WARM_TOKENS:-0}
WARM_SEQ=${WARM_SEQ:-512}

run() {  # dir flags...
  local dir=$1; shift
  local v; v=${dir#tools/train/runs/}
  mkdir -p "$dir"
  [ -e "$dir/DONE" ] && return 0
  echo "[$(date '+%F %T')] $NAME-$v: training chunk" | tee -a "$dir/train.log"
  python3 tools/train/train.py --out "$dir" "$@" >> "$dir/train.log" 2>&1 &
  local pid=$!
  # progress on the terminal: every 10th step, validation, resume/stop lines
  tail --pid=$pid -n0 -f "$dir/train.log" | grep --line-buffered -E "^step [0-9]+0/|val_loss|resumed|complete|stopping|Error" || true
  wait $pid || { echo "train.py failed for $v: see $dir/train.log"; exit 1; }
}

R=tools/train/runs/$NAME
SA=(--selective --mem-eps "$MEM_EPS")
if [ "$WARM_TOKENS" != 0 ]; then
  # phase 1: shorter sequences (4x more per optimizer step keeps tokens/step equal)
  WARM=("${COMMON[@]}" --tokens "$WARM_TOKENS" --seq-len "$WARM_SEQ" --batch $((8 * 2048 / WARM_SEQ)) --micro-batch $((2 * 2048 / WARM_SEQ)))
  # shellcheck disable=SC2206
  WARM+=(${WARM_EXTRA:-})
  while [ ! -e "$R-sa-warm/DONE" ] || [ ! -e "$R-base-warm/DONE" ]; do
    run "$R-sa-warm" "${WARM[@]}" "${SA[@]}" ${FROM:+--init-from "models/$FROM-sa"}
    run "$R-base-warm" "${WARM[@]}" ${FROM:+--init-from "models/$FROM-base"}
  done
  INIT_SA=(--init-from "$R-sa-warm/ckpt.pt"); INIT_BASE=(--init-from "$R-base-warm/ckpt.pt")
elif [ -n "${FROM:-}" ]; then
  INIT_SA=(--init-from "models/$FROM-sa"); INIT_BASE=(--init-from "models/$FROM-base")
else
  INIT_SA=(); INIT_BASE=()
fi
while [ ! -e "$R-sa/DONE" ] || [ ! -e "$R-base/DONE" ]; do
  run "$R-sa" "${COMMON[@]}" "${SA[@]}" "${INIT_SA[@]}"
  run "$R-base" "${COMMON[@]}" "${INIT_BASE[@]}"
done
for v in sa base; do
  python3 tools/train/export.py --ckpt "tools/train/runs/$NAME-$v/ckpt.pt" --out "models/$NAME-$v"
done
echo "done: models/$NAME-sa models/$NAME-base"
