#!/usr/bin/env bash
# Throughput probe: training tokens/s of the intended config (4L/4H/256, T=2048) for
# SA and baseline, f32 and bf16 autocast, with and without tcmalloc.
#   bash tools/train/probe.sh [steps=3]
# Results: tools/train/runs/probe/summary.tsv (median step time, first step excluded).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-3}
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
OUT=tools/train/runs/probe
rm -rf "$OUT"; mkdir -p "$OUT"
for alloc in tcmalloc default; do
  for prec in bf16 f32; do
    for variant in sa base; do
      name=$variant-$prec-$alloc
      flags=(--out "$OUT/$name" --tokens 1e9 --max-steps "$STEPS" --batch 2 --micro-batch 2
             --seq-len 2048 --eval-every 100000 --ckpt-every 100000)
      [ "$variant" = sa ] && flags+=(--selective --mem-eps 0.05)
      [ "$prec" = bf16 ] && flags+=(--bf16)
      pre=""; [ "$alloc" = tcmalloc ] && pre="$TCMALLOC"
      echo "== $name"
      LD_PRELOAD=$pre python3 tools/train/train.py "${flags[@]}" > "$OUT/$name.log" 2>&1 || { echo "failed: see $OUT/$name.log"; tail -5 "$OUT/$name.log"; }
      rm -f "$OUT/$name/ckpt.pt"
    done
  done
done
python3 - "$OUT" <<'PY'
import csv, glob, os, statistics, sys
out = sys.argv[1]
rows = []
for d in sorted(glob.glob(out + "/*/log.csv")):
    r = list(csv.DictReader(open(d)))[1:] or list(csv.DictReader(open(d)))
    tps = statistics.median(float(x["tok_per_s"]) for x in r)
    rows.append((os.path.basename(os.path.dirname(d)), tps, 10e6 / tps / 3600))
with open(out + "/summary.tsv", "w") as f:
    f.write("run\ttok_per_s\thours_per_10M\n")
    for n, t, h in rows:
        f.write(f"{n}\t{t:.0f}\t{h:.2f}\n")
print(open(out + "/summary.tsv").read())
PY
