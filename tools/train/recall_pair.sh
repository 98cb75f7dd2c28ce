#!/usr/bin/env bash
# The recall pair: selattn-4l256-recall-{sa,base}, fine-tuned from the bundled pair
# for long-range recall with one-token names (' K = river.' ... ' K ?' -> ' river'),
# then exported to models/. Both models get the same data, order, tokens and schedule.
#
#   bash tools/train/recall_pair.sh          # resumable; the cards list each phase's hours
#
# Phase a: dense 128-256-token recall sequences (T=256, 351 of a 384-step schedule).
# Phase b: 384-1023-token recall sequences with more filler (T=1024, 120 steps of a
#          384-step schedule).
# Phase c: the same data in another order, the loss of each value after ' ?' weighed
#          20 times (T=1024, 256 steps).
# Phase d: 1024-2047-token sequences, the values weighed 20 times (T=2048, 96 steps).
# Phase e: 3,000 fresh 1024-2047-token windows, the values weighed 20 times
#          (T=2048, 384 steps, lr 5e-4 -> 5e-5).
# Phase f: 3,600 more fresh windows, the same settings (T=2048, 448 steps).
# Each phase starts from the one before; every run checkpoints every 10 steps and a
# rerun picks up where it stopped (--stop-step makes a finished phase a no-op).
# Progress: tools/train/runs/<run>/train.log. Environment: THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
TOK=models/selattn-4l256-sa
C=tools/train/runs/corpus
R=tools/train/runs
NAME=selattn-4l256-recall
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
[ -e "$TCMALLOC" ] && export LD_PRELOAD=$TCMALLOC
[ -e $C/train.bin ] || { echo "no corpus: run bash tools/train/build_corpus.sh first"; exit 1; }

mix() {  # file seq-len windows min-tokens seed [generator flags...]: 90 % recall windows, made once
  local out=$C/$1 seq=$2 windows=$3 min=$4 seed=$5; shift 5
  [ -e "$out" ] || python3 tools/train/make_mix.py --tokenizer $TOK --names letter --out "$out" \
    --seq-len "$seq" --windows "$windows" --recall-frac 0.9 --min-tokens "$min" --seed "$seed" "$@"
}
LONG_MIX=(--p-assign 0.3 --p-query 0.25 --keys 12)
mix recall-letter-256.bin 256 24700 128 13 --p-assign 0.4 --p-query 0.4 --keys 8
mix recall-letter-1024.bin 1024 7000 384 17 "${LONG_MIX[@]}"
mix recall-letter-2048.bin 2048 1100 1024 19 "${LONG_MIX[@]}"
mix recall-letter-2048b.bin 2048 3000 1024 23 "${LONG_MIX[@]}"
mix recall-letter-2048c.bin 2048 3600 1024 29 "${LONG_MIX[@]}"

ALL=(--mem-eps 0.05 --eval-every 1000 --ckpt-every 10 --threads "$THREADS")
A=(--train-bin $C/recall-letter-256.bin --tokens 6291456 --seq-len 256 --batch 64 --micro-batch 16
   --lr 1e-3 --min-lr 1e-4 --warmup 20 --stop-step 351)
B=(--train-bin $C/recall-letter-1024.bin --tokens 6291456 --seq-len 1024 --batch 16 --micro-batch 4
   --lr 1e-3 --min-lr 1e-4 --warmup 10 --stop-step 120)
# the token before each answer (' K ?' -> ' ?'), whose successor phases c and d weigh
Q=$(python3 -c "import sys; sys.path.insert(0, 'tools/train'); from make_recall import load_tokenizer
ids = load_tokenizer('$TOK').encode(' K ?').ids; assert len(ids) == 2, ids; print(ids[1])")
P=(--answer-after "$Q" --train-bin $C/recall-letter-1024.bin --data-seed 2 --answer-weight 20 --tokens 4194304 --seq-len 1024
   --batch 16 --micro-batch 4 --lr 1e-3 --min-lr 1e-4 --warmup 10)
LONG=(--answer-after "$Q" --answer-weight 20 --seq-len 2048 --batch 8 --micro-batch 2 --lr 5e-4 --min-lr 5e-5 --warmup 5)
D=("${LONG[@]}" --train-bin $C/recall-letter-2048.bin --tokens 1572864)
E=("${LONG[@]}" --train-bin $C/recall-letter-2048b.bin --tokens 6291456)
F=("${LONG[@]}" --train-bin $C/recall-letter-2048c.bin --tokens 7340032)

train() {  # out flags...
  local out=$1; shift
  mkdir -p "$out"
  echo "[$(date '+%F %T')] $out"
  python3 tools/train/train.py --out "$out" "${ALL[@]}" "$@" >> "$out/train.log" 2>&1 ||
    { echo "training failed: see $out/train.log"; exit 1; }
  tail -n 2 "$out/train.log"
}

for v in sa base; do
  SA=(); [ $v = sa ] && SA=(--selective)
  train $R/probe-letter-$v "${A[@]}" "${SA[@]}" --init-from models/selattn-4l256-$v
  train $R/letter-$v "${B[@]}" "${SA[@]}" --init-from $R/probe-letter-$v/ckpt.pt
  train $R/letter2-$v "${P[@]}" "${SA[@]}" --init-from $R/letter-$v/ckpt.pt
  train $R/letter2048-$v "${D[@]}" "${SA[@]}" --init-from $R/letter2-$v/ckpt.pt
  train $R/letter2048e-$v "${E[@]}" "${SA[@]}" --init-from $R/letter2048-$v/ckpt.pt
  train $R/$NAME-$v "${F[@]}" "${SA[@]}" --init-from $R/letter2048e-$v/ckpt.pt
done
for v in sa base; do
  python3 tools/train/export.py --ckpt $R/$NAME-$v/ckpt.pt --out models/$NAME-$v
done
echo "done: models/$NAME-sa models/$NAME-base"
