#!/usr/bin/env python3
"""tmgt's stage oracle: HF's activations at every stage `apr trace --save-tensor all` dumps.

  stages.py --model DIR --out DIR --ids 1674,300,221,...

For the ids apr traced (the `Token ids:` line of `apr trace FILE.apr --save-tensor all`), one
float32 forward pass of the HF folder with forward hooks, each stage under apr's name and in
apr's layout (one map per architecture: STAGE_MAPS), written to OUT/stages.safetensors as rows
(one per position; one per head and query position for the attention scores; one for the last
position's logits) of at most STAGE_ROW_CAP evenly spaced elements beside every full row's L2
norm. Deterministic like oracle.py, whose loading and provenance it shares: a rerun writes the
same bytes. The summary goes to stdout as one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Sets the single-threaded, offline environment before torch is imported.
import oracle
from oracle import OracleFailure, load_model, log, provenance

# The prompt `apr trace --save-tensor` traces (fixed in apr 0.72.3: it has no --prompt).
STAGE_PROMPT = "What is 2+2?"
# At most this many elements of each row are kept, evenly spaced (index j*L//k), beside the
# full row's L2 norm: a real model's stages stay about a megabyte, a tiny model's mostly whole.
STAGE_ROW_CAP = 64
STAGES_FILE = "stages.safetensors"
SCRIPT = Path(__file__).resolve()
GENERATOR_REL = "tools/oracle/stages.py"


def stage_rows(name: str, tensor, seq: int):
    """A stage as rows: [positions, width] for activations; [heads * positions, positions]
    for attention scores (row h*S+i holds query i of head h); one row for the head's logits."""
    t = tensor.detach().to("cpu").float()
    if name.endswith(("attn_scores", "attn_softmax")):
        return t.reshape(-1, seq)
    if name == "lm_head":
        return t.reshape(1, -1)
    return t.reshape(seq, -1)


def causal_scores(q, k, head_dim: int):
    """apr's two attention stages from post-RoPE q [1,Hq,S,d] and k [1,Hkv,S,d]: scaled
    scores and softmax over j <= i, with the masked entries 0 (as apr writes them)."""
    import torch

    groups = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q, k.transpose(-1, -2)) * head_dim ** -0.5
    seq = q.shape[2]
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    softmax = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return scores.masked_fill(future, 0.0)[0], softmax.masked_fill(future, 0.0)[0]


class Taps:
    """Forward hooks that keep module inputs and outputs by name."""

    def __init__(self):
        self.out, self.inp, self.handles = {}, {}, []

    def output(self, name, module):
        def hook(_m, _args, result):
            self.out[name] = result[0] if isinstance(result, tuple) else result
        self.handles.append(module.register_forward_hook(hook))

    def input(self, name, module):
        def hook(_m, args, kwargs):
            self.inp[name] = args[0] if args else kwargs["hidden_states"]
        self.handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def forward(self, model, ids):
        """One forward pass over `ids` with the taps on, then off; the last position's logits."""
        import torch

        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids], dtype=torch.long)).logits[0, -1]
        for h in self.handles:
            h.remove()
        return logits


def llama_like_stages(model, ids):
    """LLaMA and Qwen2 (q/k/v biases) under apr's stage names, in forward order."""
    import torch
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    cfg = model.config
    inner = model.model
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    taps = Taps()
    taps.output("embedding", inner.embed_tokens)
    taps.output("final_norm", inner.norm)
    for i, layer in enumerate(inner.layers):
        a, m = layer.self_attn, layer.mlp
        taps.input(f"{i}.in", layer)
        taps.output(f"{i}.out", layer)
        taps.output(f"{i}.attn_norm", layer.input_layernorm)
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            taps.output(f"{i}.{proj}", getattr(a, proj))
        taps.input(f"{i}.o_in", a.o_proj)
        taps.output(f"{i}.ffn_norm", layer.post_attention_layernorm)
        taps.output(f"{i}.gate", m.gate_proj)
        taps.output(f"{i}.up", m.up_proj)
        taps.input(f"{i}.down_in", m.down_proj)
        taps.output(f"{i}.down", m.down_proj)
    logits = taps.forward(model, ids)
    with torch.no_grad():
        seq = len(ids)
        position_ids = torch.arange(seq).unsqueeze(0)
        cos, sin = inner.rotary_emb(taps.out["embedding"], position_ids)
        stages = [("layer-0/embedding", taps.out["embedding"])]
        for i, layer in enumerate(inner.layers):
            a, m = layer.self_attn, layer.mlp
            q, k, v = (taps.out[f"{i}.{p}"] for p in ("q_proj", "k_proj", "v_proj"))
            qkv = torch.cat([q, k, v], dim=-1)
            biased = a.q_proj.bias is not None
            if biased:
                bias = torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
                unbiased = qkv - bias
            else:
                unbiased = qkv
            qh = q.view(1, seq, heads, head_dim).transpose(1, 2)
            kh = k.view(1, seq, kv_heads, head_dim).transpose(1, 2)
            qr, kr = apply_rotary_pos_emb(qh, kh, cos, sin)
            scores, softmax = causal_scores(qr, kr, head_dim)
            hidden_in = taps.inp[f"{i}.in"]
            attn_out = taps.out[f"{i}.o_proj"]
            gate = taps.out[f"{i}.gate"]
            p = f"layer-{i}/"
            stages += [
                (p + "attn_norm", taps.out[f"{i}.attn_norm"]),
                (p + "qkv_matmul", unbiased),
            ]
            if biased:
                stages.append((p + "qkv_bias", qkv))
            stages += [
                (p + "q_post_rope", qr.transpose(1, 2)),
                (p + "k_post_rope", kr.transpose(1, 2)),
                (p + "attn_scores", scores),
                (p + "attn_softmax", softmax),
                (p + "attention", taps.inp[f"{i}.o_in"]),
                (p + "attn_out", attn_out),
                (p + "post_attn_residual", hidden_in + attn_out),
                (p + "ffn_norm", taps.out[f"{i}.ffn_norm"]),
                (p + "ffn_gate", gate),
                (p + "ffn_up", taps.out[f"{i}.up"]),
                (p + "ffn_silu", m.act_fn(gate)),
                (p + "ffn_swigl", taps.inp[f"{i}.down_in"]),
                (p + "ffn_out", taps.out[f"{i}.down"]),
                (p + "post_ffn_residual", taps.out[f"{i}.out"]),
            ]
        stages += [("final_norm", taps.out["final_norm"]), ("lm_head", logits)]
    return stages


def gpt2_stages(model, ids):
    """GPT-2 under apr's stage names: no RoPE (q and k as projected), no gated MLP (apr
    writes no ffn_gate/up/silu/swigl for it), the embedding is the token embedding alone."""
    import torch

    cfg = model.config
    inner = model.transformer
    heads = cfg.n_head
    head_dim = cfg.n_embd // heads
    taps = Taps()
    taps.output("embedding", inner.wte)
    taps.output("final_norm", inner.ln_f)
    for i, block in enumerate(inner.h):
        taps.input(f"{i}.in", block)
        taps.output(f"{i}.out", block)
        taps.output(f"{i}.attn_norm", block.ln_1)
        taps.output(f"{i}.c_attn", block.attn.c_attn)
        taps.input(f"{i}.o_in", block.attn.c_proj)
        taps.output(f"{i}.o", block.attn.c_proj)
        taps.output(f"{i}.ffn_norm", block.ln_2)
        taps.output(f"{i}.mlp", block.mlp)
    logits = taps.forward(model, ids)
    with torch.no_grad():
        seq = len(ids)
        stages = [("layer-0/embedding", taps.out["embedding"])]
        for i, block in enumerate(inner.h):
            qkv = taps.out[f"{i}.c_attn"]
            q, k, _v = qkv.split(cfg.n_embd, dim=-1)
            qh = q.view(1, seq, heads, head_dim).transpose(1, 2)
            kh = k.view(1, seq, heads, head_dim).transpose(1, 2)
            scores, softmax = causal_scores(qh, kh, head_dim)
            attn_out = taps.out[f"{i}.o"]
            p = f"layer-{i}/"
            stages += [
                (p + "attn_norm", taps.out[f"{i}.attn_norm"]),
                (p + "qkv_matmul", qkv - block.attn.c_attn.bias),
                (p + "qkv_bias", qkv),
                (p + "q_post_rope", q),
                (p + "k_post_rope", k),
                (p + "attn_scores", scores),
                (p + "attn_softmax", softmax),
                (p + "attention", taps.inp[f"{i}.o_in"]),
                (p + "attn_out", attn_out),
                (p + "post_attn_residual", taps.inp[f"{i}.in"] + attn_out),
                (p + "ffn_norm", taps.out[f"{i}.ffn_norm"]),
                (p + "ffn_out", taps.out[f"{i}.mlp"]),
                (p + "post_ffn_residual", taps.out[f"{i}.out"]),
            ]
        stages += [("final_norm", taps.out["final_norm"]), ("lm_head", logits)]
    return stages


STAGE_MAPS = {"llama": llama_like_stages, "qwen2": llama_like_stages, "gpt2": gpt2_stages}


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """A safetensors file with its header in sorted key order, so a rerun writes the same
    bytes (the safetensors package writes its metadata map in no fixed order)."""
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        blob = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def stage_provenance(model_dir: Path) -> dict:
    """oracle.py's provenance, naming this generator."""
    prov = provenance(model_dir)
    prov["generator"] = GENERATOR_REL
    prov["generator_sha256"] = oracle.sha256_file(SCRIPT)
    return prov


def write_stages(*, model_dir: Path, out_dir: Path, ids: list[int]) -> dict:
    """HF's activations at apr's trace stages for `ids` (the ids apr traced), kept as sampled
    rows plus full-row norms in OUT/stages.safetensors."""
    import torch

    tok, model = load_model(model_dir)
    arch = model.config.model_type
    if arch not in STAGE_MAPS:
        raise OracleFailure(
            f"{model_dir}: no stage map for model_type {arch!r} (tmgt maps {sorted(STAGE_MAPS)})"
        )
    stages = STAGE_MAPS[arch](model, ids)
    tensors, row_len, order = {}, {}, []
    for name, tensor in stages:
        rows = stage_rows(name, tensor, len(ids)).contiguous()
        width = rows.shape[1]
        keep = min(width, STAGE_ROW_CAP)
        index = torch.tensor([j * width // keep for j in range(keep)], dtype=torch.long)
        tensors[f"{name}.values"] = rows[:, index].contiguous()
        tensors[f"{name}.norms"] = rows.double().norm(dim=1).float().contiguous()
        row_len[name] = width
        order.append(name)
    hf_ids = tok(STAGE_PROMPT, add_special_tokens=False)["input_ids"]
    metadata = {
        "schema": "tmgt-stages/1",
        "architecture": arch,
        "prompt": STAGE_PROMPT,
        "ids": json.dumps(ids),
        "hf_ids": json.dumps(hf_ids),
        "row_cap": str(STAGE_ROW_CAP),
        "stages": json.dumps(order),
        "row_len": json.dumps(row_len),
        "provenance": json.dumps(stage_provenance(model_dir), sort_keys=True),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / STAGES_FILE
    write_safetensors(target, tensors, metadata)
    log(f"stages: {len(order)} stages of {len(ids)} positions -> {target}")
    return {"stages": len(order), "positions": len(ids), "file": str(target)}


def parse_ids(spec: str) -> list[int]:
    try:
        ids = [int(part) for part in spec.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ids {spec!r}: expected ids like 3,17,42")
    if not ids or min(ids) < 0:
        raise argparse.ArgumentTypeError(f"--ids {spec!r}: expected non-negative ids")
    return ids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="HF folder")
    ap.add_argument("--out", type=Path, required=True, help="oracle folder to write stages.safetensors in")
    ap.add_argument("--ids", type=parse_ids, required=True, help="the ids apr traced, comma-separated")
    args = ap.parse_args()
    oracle.set_up_torch()
    try:
        model = args.model.resolve()
        if not (model / "config.json").is_file():
            raise OracleFailure(f"{model}: no config.json; give the HF folder the oracles were made from")
        summary = write_stages(model_dir=model, out_dir=args.out.resolve(), ids=args.ids)
    except OracleFailure as e:
        print(json.dumps({"error": str(e)}))
        log(f"error: {e}")
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
