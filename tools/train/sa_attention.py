"""Selective attention (docs/design.md section 1) as one autograd function, computed in blocks
of queries so that the (T, T) matrices are never built whole.

Forward for a block of queries i0..i1 against keys 0..i1 (causal):
    a    = q k^T / sqrt(HS)                       (B, NH, c, i1)
    S    = relu(a[selection head]), zero where j >= i or j = 0 (BOS)
    F    = Fprev + exclusive cumulative sum of S over the block's queries
    p    = softmax(a - F, causal) ;  y = p v
    m    = sum_j min(F, tau)                      (B, c)   for the memory loss
Fprev carries the column sums of S over all earlier queries. The backward pass walks the
blocks in reverse and carries the matching sum of dF over later queries, because
dS[k, j] = sum_{i > k} dF[i, j]. Gradients flow through F into the selection head, as in
the matrix form. Saved per block: p, and two boolean masks. At T = 2048 this runs about
6x faster on CPU than the matrix form (which builds a, F, logits and p for all T x T).

Call torch.set_flush_denormal(True) before training: probabilities under a large F land
in the denormal range and make the matmuls many times slower.
"""
import math

import torch


class SelectiveAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, head, tau, block):
        B, NH, T, HS = q.shape
        scale = 1.0 / math.sqrt(HS)
        y = torch.empty_like(q)
        m = q.new_zeros(B, T)
        fprev = q.new_zeros(B, T)
        saved = []
        for i0 in range(0, T, block):
            i1 = min(T, i0 + block)
            rows = torch.arange(i0, i1, device=q.device).view(-1, 1)
            cols = torch.arange(i1, device=q.device).view(1, -1)
            keep = (cols < rows) & (cols > 0)
            a = torch.matmul(q[:, :, i0:i1], k[:, :, :i1].transpose(-2, -1)).mul_(scale)
            gate = (a[:, head] > 0) & keep
            s = torch.relu(a[:, head]).mul_(keep)
            f = torch.cumsum(s, dim=1).sub_(s).add_(fprev[:, None, :i1])
            fprev[:, :i1] += s.sum(1)
            m[:, i0:i1] = torch.clamp(f, max=tau).sum(-1)
            a.sub_(f[:, None]).masked_fill_(cols > rows, float("-inf"))
            p = torch.softmax(a, dim=-1)
            y[:, :, i0:i1] = torch.matmul(p, v[:, :, :i1])
            saved.append((p, gate, f < tau))
        ctx.save_for_backward(q, k, v, y)
        ctx.blocks = saved
        ctx.args = (head, block, scale)
        return y, m

    @staticmethod
    def backward(ctx, dy, dm):
        q, k, v, y = ctx.saved_tensors
        head, block, scale = ctx.args
        B, NH, T, HS = q.shape
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        if dy is None:
            dy = torch.zeros_like(y)
        delta = (dy * y).sum(-1)                       # rowsum(dp * p) per query
        gnext = q.new_zeros(B, T)                      # sum of dF over later queries
        starts = list(range(0, T, block))
        for b in reversed(range(len(starts))):
            i0, i1 = starts[b], min(T, starts[b] + block)
            p, gate, below_tau = ctx.blocks[b]
            dyb = dy[:, :, i0:i1]
            dv[:, :, :i1] += torch.matmul(p.transpose(-2, -1), dyb)
            da = torch.matmul(dyb, v[:, :, :i1].transpose(-2, -1)).sub_(delta[:, :, i0:i1, None]).mul_(p)
            df = -da.sum(1)
            if dm is not None:
                df += dm[:, i0:i1, None] * below_tau
            ds = torch.flip(torch.cumsum(torch.flip(df, [1]), 1), [1]).sub_(df).add_(gnext[:, None, :i1])
            gnext[:, :i1] += df.sum(1)
            da[:, head] += ds * gate
            da.mul_(scale)
            dq[:, :, i0:i1] = torch.matmul(da, k[:, :, :i1])
            dk[:, :, :i1] += torch.matmul(da.transpose(-2, -1), q[:, :, i0:i1])
        ctx.blocks = None
        return dq, dk, dv, None, None, None


def selective_attention(q, k, v, head=0, tau=1.0, block=128):
    """q, k, v (B, NH, T, HS) -> y (B, NH, T, HS) in q's dtype, m (B, T) float32."""
    dtype = q.dtype
    y, m = SelectiveAttention.apply(q.float(), k.float(), v.float(), head, float(tau), block)
    return y.to(dtype), m
