#!/usr/bin/env python3
"""Goldens for selective attention and the eviction policies (tests/data/selective).

Models: tiny-sa (2 layers, 64 wide, 4 heads, selective attention on) and
tiny-sa-long (2 layers, 32 wide, 2 heads, 2048 positions, bf16), random
GPT-2 weights from transformers with head 0's query and key biases pushed up
so its logits are mostly positive: tokens accumulate real selection scores
and eviction decisions are not trivial. Plain tiny-a-f32 covers the policies
on a model without selective attention.

Each case runs selective_reference.Reference token by token and stores the
tokens, the logits at every position, each layer's eviction order and the f
values of the tokens live at the end. cases.json lists them for the C++ tests.

  python3 tools/reference/make_selective_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden import write_golden  # noqa: E402
from selective_reference import Reference, self_check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "data"))


def make_sa_model(folder, seed, dtype, **cfg):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**cfg)).eval()
    C, NH = cfg["n_embd"], cfg["n_head"]
    HS = C // NH
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, cfg["initializer_range"])
            elif "ln" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.05)
        for block in model.transformer.h:
            b = block.attn.c_attn.bias
            b[0:HS] += 0.5           # head 0's query
            b[C:C + HS] += 0.5       # head 0's key
    if os.path.exists(folder):
        shutil.rmtree(folder)
    model.to(dtype).save_pretrained(folder)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    config["selective_attention"] = {"enabled": True, "selection_head": 0}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


CASES = [
    # name, model, policy, budgets, recent, sinks
    ("sa-none", "tiny-sa", "none", None, -1, 4),
    ("sa-selective-8", "tiny-sa", "selective", [8], -1, 4),
    ("sa-selective-1-12", "tiny-sa", "selective", [1, 12], -1, 4),
    ("sa-selective-100", "tiny-sa", "selective", [100], -1, 4),
    ("sa-h2o-10", "tiny-sa", "h2o", [10], -1, 4),
    ("sa-streaming-10", "tiny-sa", "streaming", [10], -1, 4),
    ("base-h2o-12-r4", "tiny-a-f32", "h2o", [12], 4, 4),
    ("base-streaming-12-s2", "tiny-a-f32", "streaming", [12], -1, 2),
    ("base-selective-10", "tiny-a-f32", "selective", [10], -1, 4),
]


def main():
    models = os.path.join(DATA, "models")
    out = os.path.join(DATA, "selective")
    os.makedirs(out, exist_ok=True)
    make_sa_model(os.path.join(models, "tiny-sa"), 5, torch.float32, vocab_size=300, n_positions=128, n_embd=64,
                  n_layer=2, n_head=4, initializer_range=0.1, bos_token_id=0, eos_token_id=0)
    make_sa_model(os.path.join(models, "tiny-sa-long"), 9, torch.bfloat16, vocab_size=300, n_positions=2048,
                  n_embd=32, n_layer=2, n_head=2, initializer_range=0.1, bos_token_id=0, eos_token_id=0)

    rng = np.random.default_rng(99)
    tokens = [0] + rng.integers(1, 300, size=47).tolist()
    diff = self_check(os.path.join(models, "tiny-sa"), tokens)
    print(f"decode form vs matrix form (no eviction): max diff {diff:.2e}")

    index = []
    for name, model, policy, budgets, recent, sinks in CASES:
        L = 2
        per_layer = None if budgets is None else (budgets * L if len(budgets) == 1 else budgets)
        ref = Reference(os.path.join(models, model), policy, per_layer, recent, sinks)
        logits = ref.run(tokens)
        arrays = {"tokens": np.array(tokens, dtype=np.int32), "logits": logits.astype(np.float32)}
        for l in range(L):
            arrays[f"evicted_{l}"] = np.array(ref.evicted[l], dtype=np.int32)
            pos, f = ref.f_values(l)
            arrays[f"live_{l}"] = pos.astype(np.int32)
            arrays[f"f_{l}"] = f.astype(np.float32)
        write_golden(os.path.join(out, name + ".golden"), arrays)
        margin = min(ref.margins) if ref.margins else float("inf")
        print(f"{name}: evicted {[len(e) for e in ref.evicted]} per layer, closest decision margin {margin:.3g}")
        index.append({"name": name, "model": model, "policy": policy, "budgets": budgets or [], "recent": recent,
                      "sinks": sinks, "golden": f"selective/{name}.golden"})

    # 2048 steps: f accumulated over a long context.
    long_tokens = [0] + rng.integers(1, 300, size=2047).tolist()
    ref = Reference(os.path.join(models, "tiny-sa-long"))
    last = None
    for t in long_tokens:
        last = ref.step(t)
    arrays = {"tokens": np.array(long_tokens, dtype=np.int32), "last_logits": last.astype(np.float32)}
    for l in range(2):
        pos, f = ref.f_values(l)
        arrays[f"live_{l}"] = pos.astype(np.int32)
        arrays[f"f_{l}"] = f.astype(np.float32)
    write_golden(os.path.join(out, "sa-long-2048.golden"), arrays)
    print(f"sa-long-2048: f range layer 0 [{arrays['f_0'].min():.3g}, {arrays['f_0'].max():.3g}]")

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"magic": "selattn-golden-index", "version": 1, "cases": index}, f, indent=1)


if __name__ == "__main__":
    main()
