#!/usr/bin/env python3
"""Selective attention and the KV eviction policies, written plainly.

A token-by-token GPT-2 in float64 numpy with an explicit cache per layer: a
list of entries (position, k, v, f, attention). It follows the design's
decode form exactly:

  at step t, per layer: insert k_t, v_t with f_t = 0; every head attends over
  the live entries with logits q.k / sqrt(d) - f_j (selective models only);
  then f_j += max(0, q_0.k_j / sqrt(d)) for every entry but BOS and t itself;
  h2o adds each entry's softmax probability summed over heads; then the layer
  evicts down to its budget.

It shares no code with the C++ engine. `matrix_form_logits` is the design's
batched form (S, F as prefix sums over queries) and must agree with the decode
form when nothing is evicted; `self_check` asserts it.
"""
import json
import os

import numpy as np
from safetensors.torch import load_file


def load_gpt2(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    raw = {}
    path = os.path.join(folder, "model.safetensors")
    for k, v in load_file(path).items():
        raw[k[len("transformer."):] if k.startswith("transformer.") else k] = v.double().numpy()
    if "lm_head.weight" not in raw:
        raw["lm_head.weight"] = raw["wte.weight"]
    return cfg, raw


def layernorm(x, w, b, eps):
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


class Entry:
    def __init__(self, pos, k, v):
        self.pos, self.k, self.v, self.f, self.attention = pos, k, v, 0.0, 0.0


class Reference:
    """policy: none | selective | h2o | streaming; budgets: list per layer (None = no limit)."""

    def __init__(self, folder, policy="none", budgets=None, recent=-1, sinks=4):
        self.cfg, self.w = load_gpt2(folder)
        c = self.cfg
        self.L, self.C, self.NH = c["n_layer"], c["n_embd"], c["n_head"]
        self.HS = self.C // self.NH
        self.eps = c.get("layer_norm_epsilon", 1e-5)
        sa = c.get("selective_attention") or {}
        self.selective_model = bool(sa) and sa.get("enabled", True)
        self.sel_head = sa.get("selection_head", 0)
        self.policy = policy
        self.track_f = self.selective_model or policy == "selective"
        self.budgets = budgets if (budgets and policy != "none") else [None] * self.L
        self.recent, self.sinks = recent, sinks
        self.cache = [[] for _ in range(self.L)]
        self.evicted = [[] for _ in range(self.L)]
        self.margins = []  # how clear each eviction decision was
        self.pos = 0

    def victim(self, layer, entries, step_pos):
        if self.policy == "selective":
            cand = [e for e in entries if e.pos != 0]
            if not cand:
                return None
            best = max(cand, key=lambda e: (e.f, -e.pos))
            others = [e.f for e in cand if e is not best]
            self.margins.append(min([abs(best.f - o) for o in others if o != best.f] or [np.inf]))
            return best
        if self.policy == "h2o":
            budget = self.budgets[layer]
            recent = self.recent if self.recent >= 0 else budget // 2
            old = [e for e in entries if e.pos < step_pos - recent + 1]
            if not old:
                return min(entries, key=lambda e: e.pos)
            best = min(old, key=lambda e: (e.attention, e.pos))
            others = [e.attention for e in old if e is not best]
            self.margins.append(min([abs(best.attention - o) for o in others if o != best.attention] or [np.inf]))
            return best
        if self.policy == "streaming":
            cand = [e for e in entries if e.pos >= self.sinks]
            if not cand:
                return max(entries, key=lambda e: e.pos)
            return min(cand, key=lambda e: e.pos)
        return None

    def step(self, token):
        w, t = self.w, self.pos
        scale = 1.0 / np.sqrt(self.HS)
        x = w["wte.weight"][token] + w["wpe.weight"][t]
        for l in range(self.L):
            p = f"h.{l}."
            h = layernorm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: (in, out)
            q, k, v = qkv[: self.C], qkv[self.C: 2 * self.C], qkv[2 * self.C:]
            entries = self.cache[l]
            entries.append(Entry(t, k, v))
            out = np.zeros(self.C)
            probs_sum = np.zeros(len(entries))
            sel_raw = None
            for hd in range(self.NH):
                sl = slice(hd * self.HS, (hd + 1) * self.HS)
                raw = np.array([q[sl] @ e.k[sl] for e in entries]) * scale
                if hd == self.sel_head:
                    sel_raw = raw
                logits = raw - (np.array([e.f for e in entries]) if self.selective_model else 0.0)
                pr = np.exp(logits - logits.max())
                pr /= pr.sum()
                probs_sum += pr
                out[sl] = sum(pj * e.v[sl] for pj, e in zip(pr, entries))
            if self.track_f:
                for e, a in zip(entries, sel_raw):
                    if e.pos != 0 and e.pos != t:
                        e.f += max(0.0, a)
            if self.policy == "h2o":
                for e, pj in zip(entries, probs_sum):
                    e.attention += pj
            budget = self.budgets[l]
            while budget is not None and len(entries) > budget:
                e = self.victim(l, entries, t)
                if e is None:
                    break
                entries.remove(e)
                self.evicted[l].append(e.pos)
            x = x + out @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = layernorm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            m = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = layernorm(x, w["ln_f.weight"], w["ln_f.bias"], self.eps)
        self.pos += 1
        return w["lm_head.weight"] @ x

    def run(self, tokens):
        return np.stack([self.step(t) for t in tokens])

    def f_values(self, layer):
        """(positions, f) of the live entries of a layer, by position."""
        entries = sorted(self.cache[layer], key=lambda e: e.pos)
        return np.array([e.pos for e in entries]), np.array([e.f for e in entries])


def matrix_form_logits(folder, tokens):
    """The design's batched form with no eviction: S = relu(A_0) with the BOS
    column and the diagonal zeroed, F[i] = sum of S over earlier queries k < i
    (a prefix sum along the query axis, shifted by one row), A' = A - F."""
    cfg, w = load_gpt2(folder)
    L, C, NH = cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
    HS, eps, T = C // NH, cfg.get("layer_norm_epsilon", 1e-5), len(tokens)
    sa = cfg.get("selective_attention") or {}
    sel = sa.get("selection_head", 0)
    x = w["wte.weight"][tokens] + w["wpe.weight"][:T]
    causal = np.tril(np.ones((T, T), dtype=bool))
    ln = lambda a, g, b: np.stack([layernorm(r, g, b, eps) for r in a])  # noqa: E731
    for l in range(L):
        p = f"h.{l}."
        qkv = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"]) @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(T, NH, HS).transpose(1, 0, 2) for i in range(3))
        A = q @ k.transpose(0, 2, 1) / np.sqrt(HS)  # (NH, T, T)
        F = np.zeros((T, T))
        if sa and sa.get("enabled", True):
            S = np.where(causal, np.maximum(0.0, A[sel]), 0.0)
            S[:, 0] = 0.0
            np.fill_diagonal(S, 0.0)
            F[1:] = np.cumsum(S, axis=0)[:-1]  # F[i, j] = sum_{k < i} S[k, j]
        logits = np.where(causal, A - F, -np.inf)
        pr = np.exp(logits - logits.max(-1, keepdims=True))
        pr /= pr.sum(-1, keepdims=True)
        out = (pr @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + out @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = gelu_new(ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"]) @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    return ln(x, w["ln_f.weight"], w["ln_f.bias"]) @ w["lm_head.weight"].T


def self_check(folder, tokens):
    step = Reference(folder).run(tokens)
    batch = matrix_form_logits(folder, tokens)
    diff = np.abs(step - batch).max()
    assert diff < 1e-9, f"decode form and matrix form disagree by {diff}"
    return diff
