#!/usr/bin/python3
"""Trains llmux's bundled default model (tooling, not part of the runtime).

A small llama-architecture model over a byte-level vocabulary (ids 0-255 = bytes, 256 = BOS,
257 = EOS), trained with PyTorch (Debian's python3-torch) on the text of Debian's `fortunes`
package. The architecture is exactly the one llama.cpp runs for a "llama" GGUF: RMSNorm (eps 1e-5),
rotary embeddings on adjacent pairs (llama.cpp's "norm" RoPE, base 10000), causal multi-head
attention, SwiGLU feed-forward, untied output matrix. The GGUF container, hyper-parameters and
vocabulary come from tools/gguf_gen (an F32 model of the same shape); this script only overwrites
its tensor data with the trained weights, in place, through llama.cpp's gguf-py reader.

Why not llama.cpp's own training API: in the pinned release it leaves attn_k/attn_v without
gradients (the K/V cache write is not differentiated) and never trains token_embd, so the model
cannot learn content-based attention (docs/default-model.md has the measurements).

Deterministic for a given seed, step count and thread count.
"""
import argparse
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

BOS, EOS, N_VOCAB = 256, 257, 258


def read_fortunes(paths):
    """Every fortune of the given strfile text files, as bytes (separator lines are "%")."""
    out = []
    for p in paths:
        with open(p, "rb") as f:
            cur = []
            for line in f:
                if line.rstrip(b"\r\n") == b"%":
                    text = b"".join(cur).strip(b"\n")
                    if text:
                        out.append(text)
                    cur = []
                else:
                    cur.append(line)
            text = b"".join(cur).strip(b"\n")
            if text:
                out.append(text)
    return out


def encode(fortunes):
    """BOS + bytes + EOS for each fortune, concatenated."""
    ids = []
    for t in fortunes:
        ids.append(BOS)
        ids.extend(t)
        ids.append(EOS)
    return torch.tensor(ids, dtype=torch.long)


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


class Model(torch.nn.Module):
    def __init__(self, n_layer, n_embd, n_head, n_ff, n_ctx):
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.emb = torch.nn.Embedding(N_VOCAB, n_embd)
        self.layers = torch.nn.ModuleList()
        for _ in range(n_layer):
            blk = torch.nn.Module()
            blk.attn_norm = torch.nn.Parameter(torch.ones(n_embd))
            blk.wq = torch.nn.Linear(n_embd, n_embd, bias=False)
            blk.wk = torch.nn.Linear(n_embd, n_embd, bias=False)
            blk.wv = torch.nn.Linear(n_embd, n_embd, bias=False)
            blk.wo = torch.nn.Linear(n_embd, n_embd, bias=False)
            blk.ffn_norm = torch.nn.Parameter(torch.ones(n_embd))
            blk.w_gate = torch.nn.Linear(n_embd, n_ff, bias=False)
            blk.w_up = torch.nn.Linear(n_embd, n_ff, bias=False)
            blk.w_down = torch.nn.Linear(n_ff, n_embd, bias=False)
            self.layers.append(blk)
        self.out_norm = torch.nn.Parameter(torch.ones(n_embd))
        self.lm_head = torch.nn.Linear(n_embd, N_VOCAB, bias=False)
        # Rotary tables: theta_i = pos * 10000^(-2i/head_dim) for the pair (2i, 2i+1).
        inv = 10000.0 ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
        ang = torch.arange(n_ctx, dtype=torch.float32)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        self.register_buffer("mask", torch.full((n_ctx, n_ctx), float("-inf")).triu(1), persistent=False)
        # GPT-2 style init: residual projections scaled down with depth.
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def rope(self, x):  # x: (B, T, H, D), pairs (2i, 2i+1) rotated like llama.cpp's NORM mode
        t = x.shape[1]
        c = self.cos[:t, None, :]
        s = self.sin[:t, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

    def forward(self, idx):
        b, t = idx.shape
        x = self.emb(idx)
        scale = 1.0 / math.sqrt(self.head_dim)
        for blk in self.layers:
            h = rms_norm(x, blk.attn_norm)
            q = self.rope(blk.wq(h).view(b, t, self.n_head, self.head_dim)).transpose(1, 2)
            k = self.rope(blk.wk(h).view(b, t, self.n_head, self.head_dim)).transpose(1, 2)
            v = blk.wv(h).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * scale + self.mask[:t, :t]
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)
            x = x + blk.wo(y)
            h = rms_norm(x, blk.ffn_norm)
            x = x + blk.w_down(F.silu(blk.w_gate(h)) * blk.w_up(h))
        return self.lm_head(rms_norm(x, self.out_norm))


def gguf_tensors(model):
    """llama.cpp tensor name -> trained weight (numpy, shape as ggml stores it: (out, in))."""
    t = {
        "token_embd.weight": model.emb.weight,
        "output_norm.weight": model.out_norm,
        "output.weight": model.lm_head.weight,
    }
    for i, blk in enumerate(model.layers):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = blk.attn_norm
        t[p + "attn_q.weight"] = blk.wq.weight
        t[p + "attn_k.weight"] = blk.wk.weight
        t[p + "attn_v.weight"] = blk.wv.weight
        t[p + "attn_output.weight"] = blk.wo.weight
        t[p + "ffn_norm.weight"] = blk.ffn_norm
        t[p + "ffn_gate.weight"] = blk.w_gate.weight
        t[p + "ffn_up.weight"] = blk.w_up.weight
        t[p + "ffn_down.weight"] = blk.w_down.weight
    return {k: v.detach().float().numpy() for k, v in t.items()}


def write_gguf(model, init_path, out_path, gguf_py):
    sys.path.insert(0, gguf_py)
    from gguf import GGUFReader  # noqa: E402  (llama.cpp's own GGUF reader)

    shutil.copyfile(init_path, out_path)
    reader = GGUFReader(out_path, "r+")
    weights = gguf_tensors(model)
    seen = set()
    for t in reader.tensors:
        w = weights.get(t.name)
        if w is None:
            raise SystemExit(f"train: {init_path} has tensor {t.name} that the trainer does not know")
        if t.data.dtype != np.float32 or t.data.size != w.size:
            raise SystemExit(f"train: {t.name}: expected {w.shape} float32, GGUF has {t.data.shape} {t.data.dtype}")
        t.data[...] = w.reshape(t.data.shape)
        seen.add(t.name)
    missing = set(weights) - seen
    if missing:
        raise SystemExit(f"train: tensors missing from {init_path}: {sorted(missing)}")
    reader.data.flush()
    del reader


@torch.no_grad()
def evaluate(model, windows):
    model.eval()
    losses = []
    for i in range(0, len(windows), 16):
        w = windows[i:i + 16]
        logits = model(w[:, :-1])
        losses.append(F.cross_entropy(logits.reshape(-1, N_VOCAB), w[:, 1:].reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def sample(model, prompt, n, temp, gen):
    ids = torch.tensor([[BOS] + list(prompt.encode())], dtype=torch.long)
    for _ in range(n):
        logits = model(ids[:, -model.cos.shape[0]:])[0, -1]
        if temp <= 0:
            nxt = int(logits.argmax())
        else:
            nxt = int(torch.multinomial((logits / temp).softmax(-1), 1, generator=gen))
        if nxt == EOS:
            break
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return bytes(i for i in ids[0, 1:].tolist() if i < 256).decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="F32 GGUF from gguf_gen with the target shape")
    ap.add_argument("--out", required=True, help="trained F32 GGUF to write")
    ap.add_argument("--gguf-py", required=True, help="llama.cpp's gguf-py directory")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--embd", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--ff", type=int, required=True)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-min", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--evals", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    fortunes = read_fortunes(a.files)
    # Every 50th fortune is held out for validation (2%).
    val = [f for i, f in enumerate(fortunes) if i % 50 == 49]
    train = [f for i, f in enumerate(fortunes) if i % 50 != 49]
    train_ids, val_ids = encode(train), encode(val)
    print(f"corpus: {len(a.files)} files, {len(fortunes)} fortunes, {sum(map(len, fortunes))} bytes; "
          f"tokens: train {len(train_ids)}, val {len(val_ids)}", flush=True)
    span = a.ctx + 1
    n_val = (len(val_ids) // span)
    val_windows = val_ids[: n_val * span].view(n_val, span)

    model = Model(a.layers, a.embd, a.heads, a.ff, a.ctx)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)
    tokens_per_step = a.batch * a.ctx
    print(f"model: {a.layers} layers, {a.embd} wide, {a.heads} heads, ff {a.ff}, ctx {a.ctx}, {n_params} parameters; "
          f"{a.steps} steps x {tokens_per_step} tokens = {a.steps * tokens_per_step / len(train_ids):.2f} passes",
          flush=True)

    t0 = time.time()
    every = max(1, a.steps // a.evals)
    running = None
    for step in range(a.steps):
        if step < a.warmup:
            lr = a.lr * (step + 1) / a.warmup
        else:
            x = (step - a.warmup) / max(1, a.steps - a.warmup)
            lr = a.lr_min + (a.lr - a.lr_min) * 0.5 * (1 + math.cos(math.pi * x))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(train_ids) - span, (a.batch,), generator=gen)
        batch = torch.stack([train_ids[s:s + span] for s in starts.tolist()])
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, N_VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % every == 0 or step + 1 == a.steps:
            el = time.time() - t0
            vl = evaluate(model, val_windows)
            print(f"step {step + 1:6d}  lr {lr:.2e}  train loss {running:.4f}  val loss {vl:.4f}  "
                  f"{el:7.0f} s  {(step + 1) * tokens_per_step / el:6.0f} tok/s", flush=True)

    el = time.time() - t0
    print(f"training: {a.steps} steps, {a.steps * tokens_per_step} tokens, {el:.0f} s wall, "
          f"{a.steps * tokens_per_step / el:.0f} tok/s", flush=True)
    g = torch.Generator().manual_seed(a.seed)
    for prompt, temp in (("Once upon a time", 0.8), ("The ", 0.8), ("A fool", 0.0)):
        print(f"--- {prompt!r} ({'greedy' if temp <= 0 else f'temperature {temp}'}): {sample(model, prompt, 120, temp, g)!r}")
    write_gguf(model, a.init, a.out, a.gguf_py)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
