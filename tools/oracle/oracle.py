#!/usr/bin/env python3
"""tmgt's oracle: HuggingFace transformers float32 greedy continuations, in tmgt's format.

The one implementation behind `tmgt oracle` (any local model: an HF folder or a GGUF file)
and tools/fixtures/generate.py (the bundled tiny models). Deterministic: one torch thread,
deterministic algorithms, JSON written in a fixed key order. A rerun writes the same bytes.

  oracle.py --model PATH --slug SLUG --out DIR --prompt NAME=FILE... --eval-text FILE
            [--model-id ID] [--save-hf DIR [--derive-only | --convert-only] [--config DIR]]
            [--max-new-tokens N]
            [--add-bos true|false --add-bos-from WHY]

PATH is an HF folder (config.json, model.safetensors, tokenizer.json) or a .gguf file. A GGUF
is dequantized to float32 by transformers; --save-hf DIR writes that float32 model as an HF
folder (which apr can import) and the oracles are then made from the folder reloaded from
disk, so they record the folder's files. --derive-only writes only what transformers derives
besides the weights (config, tokenizer), so `tmgt oracle` can hold it against the file and
restore what the conversion lost; --config DIR then builds the model from DIR's config.json;
--convert-only stops after writing the folder.

Every oracle records both the plain prompt's continuation and the BOS-prefixed one, and which
of them is the model's convention (`add_bos`): the tokenizer's own policy, or the one given
with --add-bos (a GGUF's `add_bos_token`). DIR's oracle files are overwritten;
`tmgt oracle` writes into a fresh folder and decides what to keep. The summary goes to stdout
as one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import os

# Single-threaded everywhere, before torch / tokenizers are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"

import argparse
import hashlib
import json
import math
import platform
import shutil
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve()
GENERATOR_REL = "tools/oracle/oracle.py"
TOP_K = 10
PPL_MAX_TOKENS = 512
DEFAULT_MAX_NEW_TOKENS = 32
# The files of an HF folder an oracle records by sha256: everything that decides its tokens
# (tmgt refuses an oracle whose model files changed).
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json")
# What an HF folder made by --save-hf holds.
HF_FOLDER_FILES = {"config.json", "generation_config.json", "model.safetensors",
                   "tokenizer.json", "tokenizer_config.json"}


class OracleFailure(Exception):
    """A refusal with the fix in its message; printed without a traceback."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")


def f32(x) -> float:
    """A float32 value as the Python float (double) that represents it exactly."""
    import numpy as np

    return float(np.float32(x))


def set_up_torch() -> None:
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------- loading


def load_model(model_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    for name, tensor in model.state_dict().items():
        if tensor.dtype != torch.float32:
            raise OracleFailure(
                f"{model_dir}: tensor {name} loaded as {tensor.dtype}, not float32; tmgt's "
                "oracles are float32 runs (give the float32 model, or a GGUF that transformers "
                "can dequantize)"
            )
    return tok, model


def gguf_metadata(path: Path) -> dict:
    """The scalar metadata fields of a GGUF (no arrays), read with the `gguf` package."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or len(field.types) != 1:
            continue
        try:
            fields[key] = field.contents()
        except (TypeError, ValueError):
            continue
    return fields


# The pre-tokenizer transformers' GGUF conversion drops: SmolLM's tokenizer.json splits
# digits one by one before the byte-level step (GGUF `tokenizer.ggml.pre` = "smollm").
SMOLLM_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}


def save_hf_from_gguf(gguf: Path, out_dir: Path, *, weights: bool = True,
                      config_dir: Path | None = None) -> dict:
    """Dequantize a GGUF to float32 with transformers and write it as an HF folder.

    With `weights=False` only what transformers derives besides the weights is written
    (config.json, generation_config.json, the tokenizer), so `tmgt oracle` can hold it against
    the file before the model is built; `config_dir` is a folder whose config.json (restored
    from the file) builds the model instead of the one transformers derives.

    Three repairs, each recorded in the returned notes: transformers marks a GGUF-loaded
    model as quantized and refuses save_pretrained although every weight is float32 (the
    quantizer is detached); its tokenizer conversion drops SmolLM's digit-splitting step
    (restored when the GGUF names the `smollm` pre-tokenizer); and the chat template is left
    out, because tmgt's oracles are raw-prompt continuations and apr wraps the prompt of a
    model that carries one.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    meta = gguf_metadata(gguf)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = AutoConfig.from_pretrained(str(config_dir)) if config_dir is not None else None
    model = None
    if weights:
        extra = {} if config is None else {"config": config}
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, **extra
        )
        for name, tensor in model.state_dict().items():
            if tensor.dtype != torch.float32:
                raise OracleFailure(f"{gguf}: {name} dequantized to {tensor.dtype}, not float32")
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.__dict__.pop("quantization_config", None)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if model is not None:
        model.save_pretrained(str(out_dir), safe_serialization=True)
    else:
        derived = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        derived.save_pretrained(str(out_dir))
        GenerationConfig.from_model_config(derived).save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))

    notes = ["dequantized to float32 by transformers (gguf_file=)"]
    if config_dir is not None:
        notes.append("built with the config.json tmgt restored from the file")
    tj_path = out_dir / "tokenizer.json"
    tj = json.loads(tj_path.read_text(encoding="utf-8"))
    if meta.get("tokenizer.ggml.pre") == "smollm" and tj.get("pre_tokenizer") != SMOLLM_PRE_TOKENIZER:
        tj["pre_tokenizer"] = SMOLLM_PRE_TOKENIZER
        tj_path.write_text(json.dumps(tj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        notes.append("pre-tokenizer: SmolLM's digit split restored (tokenizer.ggml.pre = smollm)")
    tc_path = out_dir / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text(encoding="utf-8"))
    for load_argument in ("is_local", "local_files_only"):
        tc.pop(load_argument, None)
    if tc.pop("chat_template", None) is not None or (out_dir / "chat_template.jinja").exists():
        notes.append("chat template left out: the oracles are raw-prompt continuations")
    (out_dir / "chat_template.jinja").unlink(missing_ok=True)
    tc_path.write_text(json.dumps(tc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    cfg_path = out_dir / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg.pop("quantization_config", None)
    rope = cfg.get("rope_parameters")
    if rope is not None and "rope_theta" in rope:
        cfg["rope_theta"] = rope["rope_theta"]
    cfg["dtype"] = "float32"
    cfg["torch_dtype"] = "float32"
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    extra = sorted(p.name for p in out_dir.iterdir() if p.name not in HF_FOLDER_FILES)
    for name in extra:
        (out_dir / name).unlink()
    log(f"save-hf: wrote {out_dir} ({'; '.join(notes)})")
    return {"source_gguf": gguf.name, "source_gguf_sha256": sha256_file(gguf), "notes": notes}


# --------------------------------------------------------------------------- oracles


def step_record(logits_row, token_id: int) -> dict:
    import torch

    logits = logits_row.to(torch.float32)
    logprobs = torch.log_softmax(logits, dim=-1)
    order = torch.sort(logits, descending=True, stable=True).indices
    top1, top2 = int(order[0]), int(order[1])
    assert top1 == token_id, (top1, token_id)
    margin = logits[top1] - logits[top2]
    return {
        "token_id": token_id,
        "logprob": f32(logprobs[token_id]),
        "margin": f32(margin),
        "top": [
            {"token_id": int(i), "logprob": f32(logprobs[int(i)])} for i in order[:TOP_K].tolist()
        ],
    }


def eos_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = model.config.eos_token_id
    if eos is None:
        return []
    return sorted({int(e) for e in (eos if isinstance(eos, list) else [eos])})


def greedy(model, prompt_ids: list[int], max_new_tokens: int, pad_id: int):
    """Greedy continuation; stops at EOS like `generate` does (the EOS is the last token)."""
    import torch

    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
    tokens = out.sequences[0, len(prompt_ids):].tolist()
    steps = [step_record(out.logits[i][0], t) for i, t in enumerate(tokens)]
    return tokens, steps


def stop_reason(tokens: list[int], eos: list[int], max_new_tokens: int) -> str:
    if tokens and tokens[-1] in eos:
        return "eos"
    assert len(tokens) == max_new_tokens, (len(tokens), max_new_tokens)
    return "max_new_tokens"


def provenance(model_dir: Path) -> dict:
    import safetensors
    import tokenizers
    import torch
    import transformers

    prov = {
        "generator": GENERATOR_REL,
        "generator_sha256": sha256_file(SCRIPT),
        "python_version": platform.python_version(),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "tokenizers_version": tokenizers.__version__,
        "safetensors_version": safetensors.__version__,
        "torch_threads": torch.get_num_threads(),
        "attn_implementation": "eager",
        "model_files": {name: sha256_file(model_dir / name) for name in MODEL_FILES},
    }
    return prov


def tokenizer_adds_bos(tok, bos_id) -> bool:
    """Whether the tokenizer's own encoding (with special tokens) starts a text with BOS."""
    plain = tok("Hello", add_special_tokens=False)["input_ids"]
    with_specials = tok("Hello")["input_ids"]
    return bos_id is not None and with_specials == [bos_id] + plain


def oracle_record(*, model_id, slug, prompt, prompt_file, tok, model, ids, bos_id,
                  bos_policy, max_new_tokens, prov) -> dict:
    import torch
    import transformers

    eos = eos_ids(model)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
    tokens, steps = greedy(model, ids, max_new_tokens, pad)
    record = {
        "model": model_id,
        "model_slug": slug,
        "prompt": prompt,
        "prompt_file": prompt_file,
        "runtime": "transformers",
        "format": "float32",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "tokens": tokens,
        "text": tok.decode(tokens, skip_special_tokens=True),
        "token_count": len(tokens),
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "schema_version": 1,
        "prompt_token_ids": ids,
        "add_bos": bos_policy[0],
        "add_bos_from": bos_policy[1],
        "eos_token_ids": eos,
        "stop_reason": stop_reason(tokens, eos, max_new_tokens),
        "top_k": TOP_K,
        "steps": steps,
    }
    if bos_id is not None:
        bos_ids = [bos_id] + ids
        bos_tokens, bos_steps = greedy(model, bos_ids, max_new_tokens, pad)
        record["bos"] = {
            "bos_token_id": bos_id,
            "prompt_token_ids": bos_ids,
            "tokens": bos_tokens,
            "text": tok.decode(bos_tokens, skip_special_tokens=True),
            "stop_reason": stop_reason(bos_tokens, eos, max_new_tokens),
            "steps": bos_steps,
        }
    record["provenance"] = prov
    return record


def perplexity_record(*, slug, text, text_label, tok, model, prov) -> dict:
    """Perplexity computed like `apr eval`: no BOS, first 512 tokens, one forward pass,
    mean over the N-1 next-token predictions of -log_softmax(logits[i])[t_{i+1}]."""
    import torch

    ids = tok(text, add_special_tokens=False)["input_ids"][:PPL_MAX_TOKENS]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].to(torch.float32)
    logprobs = torch.log_softmax(logits[:-1], dim=-1)
    nll = -logprobs.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
    ce = math.fsum(float(v) for v in nll.tolist()) / len(nll)
    return {
        "schema_version": 1,
        "model_slug": slug,
        "text_file": text_label,
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "bos": False,
        "max_tokens": PPL_MAX_TOKENS,
        "token_count": len(ids),
        "token_ids": ids,
        "perplexity": math.exp(ce),
        "cross_entropy": ce,
        "provenance": prov,
    }


def write_oracles(*, model_dir: Path, out_dir: Path, slug: str, model_id: str,
                  prompts: list[tuple[str, Path]], eval_text: Path, eval_text_label: str,
                  max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                  add_bos: tuple | None = None) -> dict:
    """Make every oracle of one model; returns the run's summary. The oracles depend on the
    folder's files (and a given BOS policy) only, not on how the folder was made, so every
    route to one folder gives the same bytes."""
    tok, model = load_model(model_dir)
    bos_id = model.config.bos_token_id
    if add_bos is None:
        add_bos = (tokenizer_adds_bos(tok, bos_id), "the tokenizer's own encoding")
    if add_bos[0] and bos_id is None:
        raise OracleFailure(f"{model_dir}: the model's convention is a BOS-prefixed prompt, "
                            "but config.json names no `bos_token_id`")
    prov = provenance(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"model_slug": slug, "out": str(out_dir), "oracles": []}
    for name, path in prompts:
        prompt = path.read_text(encoding="utf-8")
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        record = oracle_record(
            model_id=model_id, slug=slug, prompt=prompt, prompt_file=path.name, tok=tok,
            model=model, ids=ids, bos_id=bos_id, bos_policy=add_bos,
            max_new_tokens=max_new_tokens, prov=prov,
        )
        write_json(out_dir / f"{name}.json", record)
        margins = [s["margin"] for s in record["steps"]]
        summary["oracles"].append({
            "prompt": name,
            "tokens": len(record["tokens"]),
            "stop_reason": record["stop_reason"],
            "min_margin": min(margins) if margins else None,
            "text": record["text"],
        })
        log(f"{slug}/{name}: {len(record['tokens'])} tokens ({record['stop_reason']}) "
            f"{record['text']!r}")
    text = eval_text.read_text(encoding="utf-8")
    ppl = perplexity_record(slug=slug, text=text, text_label=eval_text_label, tok=tok,
                            model=model, prov=prov)
    write_json(out_dir / "perplexity.json", ppl)
    summary["perplexity"] = {"tokens": ppl["token_count"], "perplexity": ppl["perplexity"]}
    log(f"{slug}: eval-text perplexity {ppl['perplexity']:.4f} over {ppl['token_count']} tokens")
    return summary


# --------------------------------------------------------------------------- main


def parse_prompt(spec: str) -> tuple[str, Path]:
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"--prompt {spec!r}: expected NAME=FILE")
    return name, Path(file).resolve()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="HF folder or .gguf file")
    ap.add_argument("--slug", required=True, help="the model's name in tmgt (oracle `model_slug`)")
    ap.add_argument("--model-id", help="the oracle's `model` field (default: local/SLUG)")
    ap.add_argument("--out", type=Path, required=True, help="oracle folder to write")
    ap.add_argument("--prompt", type=parse_prompt, action="append", required=True, help="NAME=FILE")
    ap.add_argument("--eval-text", type=Path, required=True)
    ap.add_argument("--eval-text-label", help="the eval text's path as recorded (default: its name)")
    ap.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS)
    ap.add_argument("--save-hf", type=Path, help="GGUF input: write the float32 HF folder here")
    ap.add_argument("--convert-only", action="store_true",
                    help="with --save-hf: write the folder and make no oracle")
    ap.add_argument("--derive-only", action="store_true",
                    help="with --save-hf: write the config and tokenizer only, no weights")
    ap.add_argument("--config", type=Path,
                    help="with --save-hf: build the model from this folder's config.json")
    ap.add_argument("--add-bos", choices=["true", "false"],
                    help="the model's BOS convention (default: the tokenizer's own)")
    ap.add_argument("--add-bos-from", default="given", help="where --add-bos comes from")
    args = ap.parse_args()
    add_bos = None if args.add_bos is None else (args.add_bos == "true", args.add_bos_from)

    model = args.model.resolve()
    set_up_torch()
    try:
        converted_from = None
        if model.is_file():
            if model.suffix != ".gguf":
                raise OracleFailure(f"{model}: not an HF folder or a .gguf file")
            if args.save_hf is None:
                raise OracleFailure(
                    f"{model}: a GGUF input needs --save-hf DIR (the float32 HF folder the "
                    "oracles are made from and apr imports)"
                )
            converted_from = save_hf_from_gguf(
                model, args.save_hf.resolve(), weights=not args.derive_only,
                config_dir=args.config.resolve() if args.config else None,
            )
            if args.convert_only or args.derive_only:
                print(json.dumps({"converted_from": converted_from}, indent=2))
                return 0
            model = args.save_hf.resolve()
        elif not (model / "config.json").is_file():
            raise OracleFailure(f"{model}: no config.json; give an HF folder or a .gguf file")
        summary = write_oracles(
            model_dir=model, out_dir=args.out.resolve(), slug=args.slug,
            model_id=args.model_id or f"local/{args.slug}", prompts=args.prompt,
            eval_text=args.eval_text.resolve(),
            eval_text_label=args.eval_text_label or args.eval_text.name,
            max_new_tokens=args.max_new_tokens, add_bos=add_bos,
        )
        if converted_from is not None:
            summary["converted_from"] = converted_from
    except OracleFailure as e:
        print(json.dumps({"error": str(e)}))
        log(f"error: {e}")
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
