#!/usr/bin/env bash
# The numbers of a trained pair's model cards, measured: validation perplexity by selattn
# and by the PyTorch trainer at each context, three generate samples of each model, and
# the loss-curve plot. Writes models/results/pair-NAME.md (and .json) and
# models/NAME-{sa,base}/loss.png.
#
#   bash tools/train/measure_pair.sh NAME [CONTEXTS]      # CONTEXTS default 512,1024,2048
#
# Needs build/bin/selattn (tools/build.sh) and the checkpoints in tools/train/runs/NAME-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${1:?usage: measure_pair.sh NAME [CONTEXTS]}
CONTEXTS=${2:-512,1024,2048}
BIN=build/bin/selattn
VAL=models/data/validation.txt
OUT=models/results/pair-$NAME
[ -x "$BIN" ] || { echo "no $BIN: run tools/build.sh first"; exit 1; }
for v in sa base; do
  [ -d "models/$NAME-$v" ] || { echo "no models/$NAME-$v: export the pair first"; exit 1; }
  [ -e "tools/train/runs/$NAME-$v/ckpt.pt" ] || { echo "no tools/train/runs/$NAME-$v/ckpt.pt"; exit 1; }
done
mkdir -p models/results
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for v in sa base; do
  for ctx in ${CONTEXTS//,/ }; do
    echo "[$(date +%T)] $NAME-$v ctx $ctx: selattn" >&2
    "$BIN" perplexity -m "models/$NAME-$v" -f "$VAL" --special --ctx "$ctx" --json > "$TMP/selattn-$v-$ctx.json"
    echo "[$(date +%T)] $NAME-$v ctx $ctx: PyTorch" >&2
    python3 tools/train/eval_ppl.py --ckpt "tools/train/runs/$NAME-$v/ckpt.pt" --text "$VAL" --ctx "$ctx" \
      --tokenizer "models/$NAME-$v/tokenizer.json" > "$TMP/torch-$v-$ctx.txt"
  done
done

PROMPTS=("The meaning of the word" "In the beginning" "To configure the network interface")
for v in sa base; do
  for i in 0 1 2; do
    "$BIN" generate -m "models/$NAME-$v" -p "${PROMPTS[$i]}" -n 60 --seed 7 > "$TMP/sample-$v-$i.txt" 2> "$TMP/sample-$v-$i.log"
  done
done

python3 tools/train/plot_loss.py "tools/train/runs/$NAME-sa" "tools/train/runs/$NAME-base" -o "models/$NAME-sa/loss.png"
cp "models/$NAME-sa/loss.png" "models/$NAME-base/loss.png"

python3 - "$NAME" "$CONTEXTS" "$TMP" "$OUT" <<'PY'
import json, re, sys
name, contexts, tmp, out = sys.argv[1], [int(c) for c in sys.argv[2].split(",")], sys.argv[3], sys.argv[4]
rows, res = [], {"name": name, "text": "models/data/validation.txt", "contexts": []}
for ctx in contexts:
    entry = {"ctx": ctx}
    for v in ("sa", "base"):
        s = json.load(open(f"{tmp}/selattn-{v}-{ctx}.json"))
        t = float(re.search(r"perplexity ([0-9.]+)", open(f"{tmp}/torch-{v}-{ctx}.txt").read()).group(1))
        entry[v] = {"selattn": s["perplexity"], "pytorch": t, "rel_diff": abs(s["perplexity"] - t) / t,
                    "tokens": s["tokens_scored"], "tokens_per_second": s["tokens_per_second"]}
    res["contexts"].append(entry)
    rows.append(f"| {ctx} | {entry['sa']['selattn']:.2f} | {entry['sa']['pytorch']:.2f} | "
                f"{entry['sa']['rel_diff']:.1e} | {entry['base']['selattn']:.2f} | {entry['base']['pytorch']:.2f} | "
                f"{entry['base']['rel_diff']:.1e} | {entry['sa']['tokens_per_second']:.0f} / "
                f"{entry['base']['tokens_per_second']:.0f} |")
res["samples"] = {v: [open(f"{tmp}/sample-{v}-{i}.txt").read() for i in range(3)] for v in ("sa", "base")}
json.dump(res, open(out + ".json", "w"), indent=2)
with open(out + ".md", "w") as f:
    f.write(f"Validation perplexity ({res['contexts'][0]['sa']['tokens']} tokens of {res['text']}, "
            "`<|endoftext|>` read as the separator, non-overlapping windows from BOS, full cache)\n\n")
    f.write(f"| ctx | {name}-sa selattn | PyTorch | rel. diff | {name}-base selattn | PyTorch | rel. diff | "
            "selattn tok/s (sa / base) |\n|---|---|---|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n\nSamples (`selattn generate -m models/" + name + "-sa -p PROMPT -n 60 --seed 7`):\n")
    for s in res["samples"]["sa"]:
        f.write("\n```\n" + s.rstrip("\n") + "\n```\n")
print(open(out + ".md").read())
PY

# the model cards, now with these numbers (and the memory table if models/results has it)
for v in sa base; do
  python3 tools/train/export.py --card-only --ckpt "tools/train/runs/$NAME-$v/ckpt.pt" --out "models/$NAME-$v"
done
