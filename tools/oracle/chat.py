#!/usr/bin/env python3
"""tmgt's chat oracles: conversations rendered by chat templates with HF's own renderer, and
HuggingFace transformers float32 greedy continuations of what they render.

  chat.py --model DIR --slug SLUG --out DIR --conversations FILE --template NAME=FILE...
          [--model-id ID] [--max-new-tokens N]

For every template and conversation, the template (passed explicitly, so one renderer is held
to any template) is rendered by `tokenizer.apply_chat_template` with `tokenize=False`,
`add_generation_prompt=True`, `enable_thinking=False` and a pinned `date_string`, and the text is
encoded without special tokens. Into OUT/<template>/ (overwritten) it writes:

- `<conversation>.json`: a prompt oracle of the rendered text (oracle.py's `oracle_record`: its
  ids, the greedy continuation with log-probs and margins, the BOS-prefixed run included) plus
  `messages`, `template`, `template_sha256` and `kept_reply` (the reply as a chat keeps it);
- `<conversation>.refused.json` where the template itself refuses the conversation
  (`raise_exception`, as Gemma's does for a system turn): the messages and HF's message, which a
  renderer must also refuse rather than render something else;
- `dialogue-<name>/turn-<k>.json` for each dialogue (an optional system prompt and user turns,
  the way `apr chat` is fed): turn k renders the system prompt, the user turns so far and HF's
  own replies to the earlier ones, each kept as transformers decodes it without special tokens,
  the line breaks before it and the whitespace after it dropped (`kept_reply`). A turn the
  template refuses is `turn-<k>.refused.json` and ends the dialogue.

Deterministic like oracle.py: a rerun writes the same bytes. The summary goes to stdout as one
JSON document; progress goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402  (sets the single-thread environment before torch is imported)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402

SCRIPT = Path(__file__).resolve()
GENERATOR_REL = "tools/oracle/chat.py"
# What `strftime_now` would give, pinned: the date apr's renderer falls back to, so a template
# that prints today's date (Llama 3.2) renders the same text on any day.
DATE_STRING = "26 Jul 2024"


def parse_template(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise oracle.OracleFailure(f"--template wants NAME=FILE, got {spec!r}")
    return name, Path(path)


def render(tok, messages: list[dict], template: str) -> str:
    return tok.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True,
        enable_thinking=False, date_string=DATE_STRING,
    )


def kept_reply(text: str) -> str:
    """A reply as a chat keeps it in its history: decoded without special tokens, the line
    breaks before it and the whitespace after it dropped."""
    return text.lstrip("\r\n").rstrip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--slug", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--conversations", type=Path, required=True)
    ap.add_argument("--template", action="append", required=True)
    ap.add_argument("--model-id")
    ap.add_argument("--max-new-tokens", type=int, default=oracle.DEFAULT_MAX_NEW_TOKENS)
    args = ap.parse_args()
    try:
        from jinja2 import TemplateError

        oracle.set_up_torch()
        tok, model = oracle.load_model(args.model)
        prov = oracle.provenance(args.model)
        prov["generator"] = GENERATOR_REL
        prov["generator_sha256"] = oracle.sha256_file(SCRIPT)
        prov["helper"] = oracle.GENERATOR_REL
        prov["helper_sha256"] = oracle.sha256_file(oracle.SCRIPT)
        prov["date_string"] = DATE_STRING
        document = json.loads(args.conversations.read_text(encoding="utf-8"))
        conversations = document["conversations"]
        dialogues = document.get("dialogues", {})
        model_id = args.model_id or f"local/{args.slug}"
        bos_id = tok.bos_token_id
        bos_policy = (oracle.tokenizer_adds_bos(tok, bos_id), "the tokenizer's own encoding")
        summary = {"slug": args.slug, "templates": {}}
        for spec in args.template:
            name, path = parse_template(spec)
            template = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(template.encode("utf-8")).hexdigest()
            folder = args.out / name
            folder.mkdir(parents=True, exist_ok=True)
            made = {"rendered": [], "refused": []}

            def case(folder, stem, label, messages):
                """Renders one conversation into folder/<stem>.json (the continuation's record,
                returned) or folder/<stem>.refused.json (None)."""
                try:
                    text = render(tok, messages, template)
                except TemplateError as e:
                    oracle.write_json(folder / f"{stem}.refused.json", {
                        "schema_version": 1, "model_slug": args.slug, "template": name,
                        "template_sha256": digest, "messages": messages,
                        "render_error": str(e), "provenance": prov,
                    })
                    made["refused"].append(label)
                    return None
                ids = tok(text, add_special_tokens=False)["input_ids"]
                record = oracle.oracle_record(
                    model_id=model_id, slug=args.slug, prompt=text, prompt_file=f"{name}/{label}",
                    tok=tok, model=model, ids=ids, bos_id=bos_id, bos_policy=bos_policy,
                    max_new_tokens=args.max_new_tokens, prov=prov,
                )
                record["messages"] = messages
                record["template"] = name
                record["template_sha256"] = digest
                record["kept_reply"] = kept_reply(record["text"])
                oracle.write_json(folder / f"{stem}.json", record)
                made["rendered"].append(label)
                return record

            for conv, messages in conversations.items():
                case(folder, conv, conv, messages)
            for dname, dialogue in dialogues.items():
                dfolder = folder / f"dialogue-{dname}"
                dfolder.mkdir(parents=True, exist_ok=True)
                messages = [{"role": "system", "content": dialogue["system"]}] \
                    if dialogue.get("system") else []
                for k, turn in enumerate(dialogue["turns"], start=1):
                    messages = messages + [{"role": "user", "content": turn}]
                    record = case(dfolder, f"turn-{k}", f"dialogue-{dname}/turn-{k}", messages)
                    if record is None:
                        break
                    messages = messages + [{"role": "assistant", "content": record["kept_reply"]}]
            summary["templates"][name] = made
            oracle.log(f"{args.slug}: template {name}: {len(made['rendered'])} rendered, "
                       f"{len(made['refused'])} refused by the template")
        print(json.dumps(summary))
        return 0
    except oracle.OracleFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
