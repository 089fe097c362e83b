#!/usr/bin/env python3
"""tmgt's repetition-penalty oracles: HuggingFace transformers float32 greedy continuations with
`repetition_penalty`, each step's log-probs taken from the penalized logits.

  penalty.py --model DIR --slug SLUG --out DIR --penalty P... --prompt NAME=FILE...
             [--model-id ID] [--max-new-tokens N]

HF divides a positive logit by P and multiplies a negative one by P for every id already in the
sequence (prompt and generated), then decodes greedily. Into OUT/penalty-<P>/ (overwritten) it
writes `<prompt>.json` in the schema of a prompt oracle (the BOS-prefixed run included), whose
steps hold the log-softmax of the penalized logits: what a runtime reporting log-probs after its
penalty and before temperature reports. A prompt under a dozen tokens plus the continuation
stays inside a runtime's usual penalty window (64), so the penalized ids are the same.

Deterministic like oracle.py. The summary goes to stdout as one JSON document.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402  (sets the single-thread environment before torch is imported)

import argparse  # noqa: E402
import json  # noqa: E402

SCRIPT = Path(__file__).resolve()
GENERATOR_REL = "tools/oracle/penalty.py"


def penalized_greedy(model, prompt_ids, max_new_tokens, pad_id, penalty):
    import torch

    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
            num_beams=1, max_new_tokens=max_new_tokens, pad_token_id=pad_id,
            repetition_penalty=penalty, output_scores=True, return_dict_in_generate=True,
        )
    tokens = out.sequences[0, len(prompt_ids):].tolist()
    steps = [oracle.step_record(out.scores[i][0], t) for i, t in enumerate(tokens)]
    return tokens, steps


def record(*, model_id, slug, name, text, tok, model, penalty, max_new_tokens, prov) -> dict:
    eos = oracle.eos_ids(model)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    tokens, steps = penalized_greedy(model, ids, max_new_tokens, pad, penalty)
    bos_id = tok.bos_token_id
    data = {
        "model": model_id, "model_slug": slug, "prompt": text, "prompt_file": name,
        "runtime": "transformers", "format": "float32", "tokens": tokens,
        "text": tok.decode(tokens, skip_special_tokens=True), "token_count": len(tokens),
        "max_new_tokens": max_new_tokens, "do_sample": False, "repetition_penalty": penalty,
        "schema_version": 1, "prompt_token_ids": ids,
        "add_bos": oracle.tokenizer_adds_bos(tok, bos_id),
        "add_bos_from": "the tokenizer's own encoding", "eos_token_ids": eos,
        "stop_reason": oracle.stop_reason(tokens, eos, max_new_tokens), "top_k": oracle.TOP_K,
        "steps": steps,
    }
    if bos_id is not None:
        bos_ids = [bos_id] + ids
        bos_tokens, bos_steps = penalized_greedy(model, bos_ids, max_new_tokens, pad, penalty)
        data["bos"] = {
            "bos_token_id": bos_id, "prompt_token_ids": bos_ids, "tokens": bos_tokens,
            "text": tok.decode(bos_tokens, skip_special_tokens=True),
            "stop_reason": oracle.stop_reason(bos_tokens, eos, max_new_tokens), "steps": bos_steps,
        }
    data["provenance"] = prov
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--slug", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--penalty", type=float, action="append", required=True)
    ap.add_argument("--prompt", action="append", required=True)
    ap.add_argument("--model-id")
    ap.add_argument("--max-new-tokens", type=int, default=oracle.DEFAULT_MAX_NEW_TOKENS)
    args = ap.parse_args()
    try:
        oracle.set_up_torch()
        tok, model = oracle.load_model(args.model)
        prov = oracle.provenance(args.model)
        prov["generator"] = GENERATOR_REL
        prov["generator_sha256"] = oracle.sha256_file(SCRIPT)
        prov["helper"] = oracle.GENERATOR_REL
        prov["helper_sha256"] = oracle.sha256_file(oracle.SCRIPT)
        model_id = args.model_id or f"local/{args.slug}"
        prompts = [oracle.parse_prompt(spec) for spec in args.prompt]
        summary = {"slug": args.slug, "penalties": []}
        for penalty in args.penalty:
            folder = args.out / f"penalty-{penalty:g}"
            for name, path in prompts:
                text = path.read_text(encoding="utf-8")
                oracle.write_json(folder / f"{name}.json", record(
                    model_id=model_id, slug=args.slug, name=name, text=text, tok=tok,
                    model=model, penalty=penalty, max_new_tokens=args.max_new_tokens, prov=prov,
                ))
            summary["penalties"].append(f"{penalty:g}")
            oracle.log(f"{args.slug}: repetition penalty {penalty:g}: {len(prompts)} prompts")
        print(json.dumps(summary))
        return 0
    except oracle.OracleFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
