"""GPT-2 in PyTorch with an optional Selective Attention switch (docs/design.md section 1).

Dimension letters: B batch, T sequence, C n_embd, NH heads, HS head size, V vocab, L layers.
Parameter names follow Hugging Face GPT-2 (`transformer.h.0.attn.c_attn` ...) so export is
a rename-free transpose of the Linear weights into Conv1D [in, out] layout.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from sa_attention import selective_attention


@dataclass
class GPTConfig:
    vocab_size: int = 8192
    n_positions: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    layer_norm_epsilon: float = 1e-5
    selective: bool = False        # Selective Attention on/off
    selection_head: int = 0
    mem_tau: float = 1.0           # memory loss: F >= tau counts as evicted

    def to_dict(self):
        return asdict(self)


def selection_scores(a0, T):
    """F (B, T, T) from head `selection_head`'s logits a0 (B, T, T), in a0's dtype
    (float32 under autocast).

    S[i,j] = relu(a0[i,j]) for j < i (causal, diagonal excluded), S[:,0] = 0 (BOS).
    F[i,j] = sum_{k<i} S[k,j]: exclusive cumulative sum over the QUERY axis (dim -2).
    Since S[k,j] = 0 unless j < k, this is sum over j < k < i as in docs/design.md.
    The prefix sum runs in float64 so long contexts do not drift.
    """
    out = torch.float64 if a0.dtype == torch.float64 else torch.float32
    s = torch.relu(a0.double())
    keep = torch.ones(T, T, dtype=torch.bool, device=a0.device).tril(-1)   # j < i
    keep[:, 0] = False                                                      # BOS column
    s = s.masked_fill(~keep, 0.0)
    return (torch.cumsum(s, dim=-2) - s).to(out)


def selective_matrix_form(q, k, v, head):
    """The slow, obvious form of docs/design.md section 1 with (B, NH, T, T) tensors:
    q, k, v (B, NH, T, HS) -> y (B, NH, T, HS), F (B, T, T). The reference that
    sa_attention.py (what training runs) is tested against."""
    T, HS = q.shape[-2], q.shape[-1]
    a = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))
    f = selection_scores(a[:, head], T)
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    logits = (a.to(f.dtype) - f[:, None]).masked_fill(~causal, float("-inf"))
    p = torch.softmax(logits, dim=-1).to(v.dtype)
    return p @ v, f


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x, want_f=False):
        """-> (output, aux). aux: None without selective attention; F (B, T, T) from the
        matrix form when want_f (the slow reference); else m[i] = sum_j min(F[i,j], tau)
        (B, T) from the blockwise function, all the memory loss needs."""
        B, T, C = x.shape
        NH = self.cfg.n_head
        HS = C // NH
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, NH, HS).transpose(1, 2)   # (B, NH, T, HS)
        k = k.view(B, T, NH, HS).transpose(1, 2)
        v = v.view(B, T, NH, HS).transpose(1, 2)
        aux = None
        if not self.cfg.selective:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif not want_f:
            y, aux = selective_attention(q, k, v, self.cfg.selection_head, self.cfg.mem_tau)
        else:
            y, aux = selective_matrix_form(q, k, v, self.cfg.selection_head)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y), aux


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))   # gelu_new


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x, want_f=False):
        a, aux = self.attn(self.ln_1(x), want_f)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, aux


class Transformer(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = Transformer(cfg)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):       # GPT-2 residual scaling
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, idx, want_f=False):
        """idx (B, T) -> logits (B, T, V) and, with selective attention, one aux per layer:
        F (B, T, T) if want_f (matrix form), else the memory-loss row sums m (B, T)."""
        B, T = idx.shape
        assert T <= self.cfg.n_positions, f"sequence {T} > n_positions {self.cfg.n_positions}"
        t = self.transformer
        pos = torch.arange(T, device=idx.device)
        x = t.wte(idx) + t.wpe(pos)[None]
        auxes = []
        for block in t.h:
            x, aux = block(x, want_f)
            auxes.append(aux)
        x = t.ln_f(x)
        logits = x @ t.wte.weight.T                   # tied lm_head
        return logits, (auxes if self.cfg.selective else None)


def memory_loss(ms, tau=1.0):
    """docs/design.md: M[l,i] = i - sum_j min(F[l,i,j], tau) / tau, from m[l,i] = sum_j min(F, tau)
    (B, T) per layer; returns mean over layers (and batch) of max_i M[l,i] / n."""
    terms = []
    for m in ms:
        B, T = m.shape
        i = torch.arange(T, device=m.device, dtype=m.dtype)
        terms.append((i[None] - m / tau).max(dim=-1).values / T)
    return torch.stack(terms).mean()


def memory_rows(f, tau=1.0):
    """F (B, T, T) -> m (B, T) = sum_j min(F[i,j], tau), the matrix form's memory-loss input."""
    return torch.clamp(f, max=tau).sum(-1)


def num_params(model):
    return sum(p.numel() for p in model.parameters())
