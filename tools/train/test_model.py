#!/usr/bin/env python3
"""Checks of the trainer's model against docs/design.md section 1, written the slow way.

    python3 tools/train/test_model.py

1. Matrix-form selective attention equals the decode form (one token at a time, f_j per
   cached key, updated after attending) for every layer's output.
2. With selective attention off the model equals transformers' GPT2LMHeadModel on the
   same weights (only if transformers is installed).
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig, memory_loss, memory_rows, selective_matrix_form  # noqa: E402
from sa_attention import selective_attention  # noqa: E402


def decode_form_attention(attn, x):
    """x (T, C) -> y (T, C) via docs/design.md's decode form; f in float32 per step."""
    T, C = x.shape
    NH, HS = attn.cfg.n_head, C // attn.cfg.n_head
    qkv = attn.c_attn(x)
    q, k, v = [t.view(T, NH, HS) for t in qkv.split(C, dim=1)]
    f = torch.zeros(T)
    ys = []
    for t in range(T):
        a = torch.einsum("hd,jhd->hj", q[t], k[: t + 1]) / math.sqrt(HS)   # (NH, t+1)
        logits = a - f[: t + 1][None]
        p = torch.softmax(logits, dim=-1)
        ys.append(torch.einsum("hj,jhd->hd", p, v[: t + 1]).reshape(C))
        upd = torch.relu(a[attn.cfg.selection_head])
        upd[0] = 0.0                  # BOS
        upd[t] = 0.0                  # itself
        f[: t + 1] += upd
    return attn.c_proj(torch.stack(ys))


def test_selective_matches_decode_form():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, n_positions=48, n_layer=2, n_head=4, n_embd=32, selective=True)
    model = GPT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():            # larger weights so S is far from zero
            p.mul_(4.0)
        x = torch.randn(2, 40, 32)
        for block in model.transformer.h:
            h = block.ln_1(x)
            y_mat, f = block.attn(h, want_f=True)
            y_blk, m = block.attn(h)
            assert (y_blk - y_mat).abs().max() < 1e-4 and (m - memory_rows(f)).abs().max() < 1e-3
            for b in range(2):
                y_dec = decode_form_attention(block.attn, h[b])
                err = (y_mat[b] - y_dec).abs().max().item()
                assert err < 1e-4, f"matrix vs decode form differ by {err}"
            assert (f[:, :, 0] == 0).all() and (f.diagonal(dim1=-2, dim2=-1) == 0).all()
            assert (f.diff(dim=1) >= 0).all(), "F must not decrease along queries"
            assert f.abs().sum() > 0, "test too weak: F is all zero"
            x = block(x)[0]
    print("ok: matrix-form selective attention == decode form")


def test_memory_loss():
    # no masking at all: M[i] = i, max = T-1
    f = torch.zeros(1, 8, 8)
    assert abs(memory_loss([memory_rows(f)]).item() - 7 / 8) < 1e-6
    # one token fully masked (F >= tau) for the last query: M[7] = 7 - 1
    f[0, 7, 3] = 5.0
    assert abs(memory_loss([memory_rows(f)]).item() - 6 / 8) < 1e-6
    print("ok: memory loss")


def matrix_form(q, k, v, tau):
    """The matrix form (autograd does its backward pass) and its memory-loss rows."""
    y, f = selective_matrix_form(q, k, v, 0)
    return y, memory_rows(f, tau)


def test_blockwise_matches_matrix_form():
    """Values and gradients (through F into the selection head, and through the memory
    loss) of the blockwise autograd function equal the matrix form's, in float64."""
    from sa_attention import SelectiveAttention
    torch.manual_seed(2)
    B, NH, T, HS = 2, 3, 45, 8
    q, k, v = [(torch.randn(B, NH, T, HS, dtype=torch.float64) * 1.5).requires_grad_() for _ in range(3)]
    wy, wm = torch.randn(B, NH, T, HS, dtype=torch.float64), torch.randn(B, T, dtype=torch.float64)
    y0, m0 = matrix_form(q, k, v, 2.0)
    g0 = torch.autograd.grad((y0 * wy).sum() + (m0 * wm).sum(), (q, k, v))
    assert m0.abs().sum() > 0 and (m0 < (torch.arange(T) * 2.0)).any(), "test too weak"
    for block in (1, 7, 16, 64):
        y1, m1 = SelectiveAttention.apply(q, k, v, 0, 2.0, block)
        g1 = torch.autograd.grad((y1 * wy).sum() + (m1 * wm).sum(), (q, k, v))
        assert (y1 - y0).abs().max() < 1e-12 and (m1 - m0).abs().max() < 1e-12, block
        for a, b in zip(g0, g1):
            assert (a - b).abs().max() < 1e-11, (block, (a - b).abs().max().item())
    y2, _ = selective_attention(q.float(), k.float(), v.float())
    assert (y2.double() - matrix_form(q, k, v, 1.0)[0]).abs().max() < 1e-5
    print("ok: blockwise selective attention == matrix form (values and gradients)")


def test_matches_transformers():
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        print("skip: transformers not installed")
        return
    torch.manual_seed(1)
    cfg = GPTConfig(vocab_size=64, n_positions=32, n_layer=2, n_head=2, n_embd=16)
    ours = GPT(cfg).eval()
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=2, n_head=2,
                                    activation_function="gelu_new", resid_pdrop=0, embd_pdrop=0, bos_token_id=0, eos_token_id=0,
                                    attn_pdrop=0)).eval()
    sd = {}
    for k, v in ours.state_dict().items():
        sd[k] = v.t() if k.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")) else v
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    assert not unexpected and all(m.endswith(("attn.bias", "masked_bias", "lm_head.weight")) for m in missing), missing
    idx = torch.randint(0, 64, (2, 20))
    with torch.no_grad():
        err = (ours(idx)[0] - hf(idx).logits).abs().max().item()
    assert err < 1e-4, err
    print(f"ok: SA-off model == transformers GPT-2 (max diff {err:.1e})")


def test_export_refuses_mismatch():
    """export.py stops with a message naming the tensors when config and tensors disagree."""
    import subprocess
    import tempfile
    cfg = GPTConfig(vocab_size=64, n_positions=32, n_layer=2, n_head=2, n_embd=16)
    sd = GPT(cfg).state_dict()
    export = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export.py")
    with tempfile.TemporaryDirectory() as tmp:
        bad = {"config": {**cfg.to_dict(), "n_embd": 32}, "model": sd, "args": {}, "extra": {}, "step": 0}
        torch.save(bad, os.path.join(tmp, "bad.pt"))
        with open(os.path.join(tmp, "junk.pt"), "wb") as f:
            f.write(b"not a checkpoint")
        for name, expect in (("bad.pt", "does not match the tensors"), ("junk.pt", "cannot read the checkpoint")):
            r = subprocess.run([sys.executable, export, "--ckpt", os.path.join(tmp, name), "--out",
                                os.path.join(tmp, "out")], capture_output=True, text=True)
            assert r.returncode != 0 and expect in r.stderr, (name, r.returncode, r.stderr[-500:])
            assert not os.path.exists(os.path.join(tmp, "out", "model.safetensors")), "wrote output anyway"
            if name == "bad.pt":
                assert "transformer.h.0.attn.c_attn.weight: shape (48, 16), config implies (96, 32)" in r.stderr, r.stderr
    print("ok: export refuses a checkpoint whose config does not match its tensors")


if __name__ == "__main__":
    test_selective_matches_decode_form()
    test_memory_loss()
    test_blockwise_matches_matrix_form()
    test_matches_transformers()
    test_export_refuses_mismatch()
