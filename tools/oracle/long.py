#!/usr/bin/env python3
"""tmgt's long-context oracles: HuggingFace transformers float32 runs of one long text.

  long.py --model DIR --slug SLUG --out DIR --text FILE --prefix N... [--position N...]
          [--model-id ID] [--max-new-tokens N] [--copy-words N]

DIR is an HF folder. Into OUT (overwritten) it writes, for the text's token ids without BOS
(as `apr eval` encodes it) up to the model's declared context C:

- `prefix-N.json` for each N with N + max-new-tokens <= C: the greedy continuation of a prefix
  of the text that encodes to exactly N tokens, with log-probs and margins, in the schema of a
  prompt oracle (oracle.py's `oracle_record`, the BOS-prefixed run included);
- `position-N.json` for each N among --position and the edges the model's config declares
  (a sliding window W: W and W+1 tokens, the first prompt whose last prediction sees fewer
  keys than a full layer; a scaling's original context O: O and O+1), where N +
  max-new-tokens <= C: the same record, so a runtime's first departure can be placed between
  two prompt lengths; `position_reason` says why the length was chosen;
- `copy.json`: a long-range copy prompt (a list of words from the text in a seeded order, a
  newline, its first words), whose right continuation is the rest of the list;
- `nll.json`: the text, and the negative log-likelihood of every token of it after the first,
  in one forward pass over min(C, longest --prefix + max-new-tokens) tokens, so any prefix's
  perplexity is a sum and a departure can be placed by position;
- `boundary.json`: texts of exactly C-33, C-2, C-1, C and C+1 tokens, for the context-boundary
  checks (written only where the text is that long): a runtime that adds a BOS feeds C-2 of
  them as C-1 ids, which leaves room for exactly one token.

Deterministic like oracle.py (one thread, eager attention, fixed key order): a rerun writes the
same bytes. The summary goes to stdout as one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402  (sets the single-thread environment before torch is imported)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402

SCRIPT = Path(__file__).resolve()
GENERATOR_REL = "tools/oracle/long.py"
COPY_SEED = 20261206
# Where the copy prompt's repetition starts: the model sees this many words of the list again.
COPY_SHOWN = 8


def declared_context(model) -> int:
    config = model.config
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise oracle.OracleFailure(
        f"{config.name_or_path}: config.json declares no context (max_position_embeddings)"
    )


def position_edges(model, context: int) -> dict[int, str]:
    """Prompt lengths at the edges of what the config says about positions: a sliding window
    a layer uses, and the original context of a RoPE scaling, where they lie inside `context`."""
    config = model.config
    edges: dict[int, str] = {}
    window = getattr(config, "sliding_window", None)
    uses_window = getattr(config, "use_sliding_window", True) is not False
    layers = getattr(config, "layer_types", None) or []
    if uses_window and isinstance(window, int) and 0 < window < context and (
        not layers or "sliding_attention" in layers
    ):
        edges[window] = f"the sliding window's edge ({window} keys): the last prediction sees them all"
        edges[window + 1] = f"past the sliding window ({window} keys): the last prediction sees one fewer"
    rope = getattr(config, "rope_parameters", None) or {}
    rope = rope.get("full_attention", rope)
    original = rope.get("original_max_position_embeddings")
    if rope.get("rope_type") not in (None, "default") and isinstance(original, int) and original + 1 < context:
        edges[original] = f"the {rope['rope_type']} scaling's original context ({original})"
        edges[original + 1] = f"one past the {rope['rope_type']} scaling's original context ({original})"
    return edges


def text_of_length(tok, text: str, n: int) -> tuple[str, list[int]]:
    """The longest prefix of `text` ending at a word's end that encodes to exactly `n` ids.

    BPE merges across a cut, so a prefix is searched for rather than decoded from ids[:n]: the
    cut after token n-1 first, then nearby word ends."""
    encoded = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    if len(offsets) < n:
        raise oracle.OracleFailure(f"the text has {len(offsets)} tokens, fewer than {n}")
    end = offsets[n - 1][1]
    candidates = sorted(
        {end} | {i for i in range(max(1, end - 200), min(len(text), end + 200)) if text[i].isspace()},
        key=lambda i: (abs(i - end), i),
    )
    for cut in candidates:
        ids = tok(text[:cut], add_special_tokens=False)["input_ids"]
        if len(ids) == n:
            return text[:cut], ids
    raise oracle.OracleFailure(f"no prefix of the text encodes to exactly {n} tokens")


def copy_prompt(text: str, words: int) -> tuple[str, str]:
    """A seeded list of distinct words of the text, a newline and its first words; and the
    rest of the list, which is what a model that copies continues with."""
    seen: list[str] = []
    for raw in text.split():
        word = "".join(c for c in raw.lower() if c.isalpha())
        if len(word) >= 4 and word not in seen:
            seen.append(word)
    random.Random(COPY_SEED).shuffle(seen)
    chosen = seen[:words]
    prompt = " ".join(chosen) + "\n" + " ".join(chosen[:COPY_SHOWN])
    return prompt, " " + " ".join(chosen[COPY_SHOWN:])


def nll_record(*, slug, text, text_label, tok, model, count, prov) -> dict:
    """-log p(t_i | t_<i) for i = 1 .. count-1, one forward pass, no BOS (as `apr eval`)."""
    import torch

    ids = tok(text, add_special_tokens=False)["input_ids"][:count]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].to(torch.float32)
    logprobs = torch.log_softmax(logits[:-1], dim=-1)
    nll = -logprobs.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
    values = [oracle.f32(v) for v in nll.tolist()]
    return {
        "schema_version": 1,
        "model_slug": slug,
        "text_file": text_label,
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "text": text,
        "bos": False,
        "token_count": len(ids),
        "token_ids": ids,
        "nll": values,
        "perplexity": math.exp(math.fsum(values) / len(values)),
        "provenance": prov,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--slug", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--prefix", type=int, action="append", required=True)
    ap.add_argument("--position", type=int, action="append", default=[])
    ap.add_argument("--model-id")
    ap.add_argument("--max-new-tokens", type=int, default=oracle.DEFAULT_MAX_NEW_TOKENS)
    ap.add_argument("--copy-words", type=int, default=48)
    args = ap.parse_args()
    try:
        oracle.set_up_torch()
        tok, model = oracle.load_model(args.model)
        prov = oracle.provenance(args.model)
        prov["generator"] = GENERATOR_REL
        prov["generator_sha256"] = oracle.sha256_file(SCRIPT)
        prov["helper"] = oracle.GENERATOR_REL
        prov["helper_sha256"] = oracle.sha256_file(oracle.SCRIPT)
        text = args.text.read_text(encoding="utf-8")
        context = declared_context(model)
        total = len(tok(text, add_special_tokens=False)["input_ids"])
        model_id = args.model_id or f"local/{args.slug}"
        bos_id = tok.bos_token_id
        bos_policy = (oracle.tokenizer_adds_bos(tok, bos_id), "the tokenizer's own encoding")
        summary = {"slug": args.slug, "context": context, "text_tokens": total, "prefixes": []}
        args.out.mkdir(parents=True, exist_ok=True)

        def record(name: str, prompt: str, ids: list[int]) -> dict:
            return oracle.oracle_record(
                model_id=model_id, slug=args.slug, prompt=prompt, prompt_file=name, tok=tok,
                model=model, ids=ids, bos_id=bos_id, bos_policy=bos_policy,
                max_new_tokens=args.max_new_tokens, prov=prov,
            )

        fitting = sorted(n for n in set(args.prefix) if n + args.max_new_tokens <= min(context, total))
        for n in fitting:
            prompt, ids = text_of_length(tok, text, n)
            oracle.write_json(args.out / f"prefix-{n}.json", record(args.text.name, prompt, ids))
            summary["prefixes"].append(n)
            oracle.log(f"{args.slug}: prefix of {n} tokens continued")

        positions = {n: f"a fixed prompt length ({n})" for n in args.position}
        positions.update(position_edges(model, context))
        summary["positions"] = []
        for n in sorted(positions):
            if n < 1 or n + args.max_new_tokens > min(context, total):
                continue
            prompt, ids = text_of_length(tok, text, n)
            data = record(args.text.name, prompt, ids)
            data["position_reason"] = positions[n]
            oracle.write_json(args.out / f"position-{n}.json", data)
            summary["positions"].append(n)
        oracle.log(f"{args.slug}: prompts of {summary['positions']} tokens continued")

        prompt, expected = copy_prompt(text, args.copy_words)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        copy = record("copy", prompt, ids)
        copy["copy_continuation"] = expected
        oracle.write_json(args.out / "copy.json", copy)
        summary["copy_prompt_tokens"] = len(ids)

        count = min(context, total, max(args.prefix) + args.max_new_tokens)
        nll = nll_record(slug=args.slug, text=text, text_label=args.text.name, tok=tok,
                         model=model, count=count, prov=prov)
        oracle.write_json(args.out / "nll.json", nll)
        summary["nll_tokens"] = count

        if context + 1 <= total:
            cases = []
            for n in (context - 33, context - 2, context - 1, context, context + 1):
                prompt, ids = text_of_length(tok, text, n)
                cases.append({"tokens": n, "prompt": prompt, "prompt_token_ids": ids})
            oracle.write_json(args.out / "boundary.json", {
                "schema_version": 1, "model_slug": args.slug, "context": context,
                "bos": False, "cases": cases, "provenance": prov,
            })
            summary["boundary"] = [c["tokens"] for c in cases]
        print(json.dumps(summary))
        return 0
    except oracle.OracleFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
