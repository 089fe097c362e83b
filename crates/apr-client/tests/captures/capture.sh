#!/usr/bin/env bash
# Regenerates the captured apr outputs that the parser tests (tests/parse_captures.rs) read.
#
# Usage: crates/apr-client/tests/captures/capture.sh [MODELS_DIR]
#   MODELS_DIR  folder holding the bundled HF models tiny-llama, tiny-qwen2, tiny-gpt2
#               (default: models/ at the repository root)
#   apr is $TMGT_APR, else `apr` on PATH.
#
# Each case gets a folder with `command` (the apr command line), `stdout`, `stderr` and
# `exit_code`. Machine paths are replaced by placeholders in all four files: the models folder
# by $MODELS, the scratch folder (imported/exported artifacts) by $WORK, the apr binary by $APR
# and the home folder by $HOME.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
MODELS=$(cd "${1:-$ROOT/models}" && pwd)
APR=${TMGT_APR:-$(command -v apr || true)}
if [[ -z "$APR" || ! -x "$APR" ]]; then
    echo "capture.sh: no apr binary (set TMGT_APR or put apr on PATH)" >&2
    exit 2
fi
APR=$(readlink -f "$APR")
WORK=$(mktemp -d -t apr-captures.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export SOVEREIGN_DISABLE_UPDATE_CHECK=1 NO_COLOR=1
unset RUST_BACKTRACE RUST_LOG
# A scratch home: `apr qa` keeps a per-file-stem report under ~/.cache/apr/qa-reports and
# regression-compares the next run against it; `apr list` scans ~/.cache/pacha.
REAL_HOME=$HOME
export HOME="$WORK/home"
mkdir -p "$HOME"

scrub() {
    sed -e "s|$APR|\$APR|g" -e "s|$WORK|\$WORK|g" -e "s|$MODELS|\$MODELS|g" \
        -e "s|$REAL_HOME|\$HOME|g"
}

quote() {
    local out="apr" a
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
    done
    printf '%s\n' "$out"
}

# capture CASE ARGS... : runs `apr ARGS...` with a 10-minute limit and records it.
capture() {
    local name=$1
    shift
    local dir="$HERE/$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    local code=0
    timeout -k 5 600 "$APR" "$@" >"$dir/stdout.raw" 2>"$dir/stderr.raw" </dev/null || code=$?
    scrub <"$dir/stdout.raw" >"$dir/stdout"
    scrub <"$dir/stderr.raw" >"$dir/stderr"
    rm -f "$dir/stdout.raw" "$dir/stderr.raw"
    quote "$@" | scrub >"$dir/command"
    echo "$code" >"$dir/exit_code"
    printf '%-40s exit %s\n' "$name" "$code" >&2
}

capture version --version --json

# Artifacts: import each HF folder to APR, export the APR to GGUF.
for m in llama qwen2 gpt2; do
    capture "import_$m" --json import "$MODELS/tiny-$m" -o "$WORK/tiny-$m.apr"
    capture "export_gguf_$m" --json export "$WORK/tiny-$m.apr" --format gguf -o "$WORK/tiny-$m.gguf"
done
capture import_qwen2_q4k --json import "$MODELS/tiny-qwen2" -o "$WORK/tiny-qwen2-q4k.apr" --quantize q4k
capture import_missing --json import "$WORK/absent" -o "$WORK/absent.apr"
capture export_exists --json export "$WORK/tiny-qwen2.apr" --format gguf -o "$WORK/tiny-qwen2.gguf"

Q_APR="$WORK/tiny-qwen2.apr"
Q_GGUF="$WORK/tiny-qwen2.gguf"
L_APR="$WORK/tiny-llama.apr"
L_GGUF="$WORK/tiny-llama.gguf"
G_APR="$WORK/tiny-gpt2.apr"
Q_ST="$MODELS/tiny-qwen2/model.safetensors"

# Inspection.
for m in llama qwen2 gpt2; do
    capture "inspect_apr_$m" --json inspect "$WORK/tiny-$m.apr"
done
capture inspect_gguf_qwen2 --json inspect "$Q_GGUF"
capture inspect_gguf_llama --json inspect "$L_GGUF"
capture inspect_safetensors_qwen2 --json inspect "$Q_ST"
capture inspect_missing --json inspect "$WORK/absent.apr"
capture validate_apr_llama --json validate "$L_APR"
capture validate_apr_qwen2 --json validate "$Q_APR"
capture validate_gguf_qwen2 --json validate "$Q_GGUF"
capture tensors_apr_qwen2_stats --json tensors "$Q_APR" --limit 0 --stats
capture tensors_gguf_llama --json tensors "$L_GGUF" --limit 0
capture lint_apr_qwen2 --json lint "$Q_APR"
capture lint_gguf_qwen2 --json lint "$Q_GGUF"
capture check_apr_qwen2 --json check "$Q_APR" --no-gpu
capture check_gguf_llama --json check "$L_GGUF" --no-gpu
capture diff_apr_gguf_qwen2 --json diff "$Q_APR" "$Q_GGUF"
capture diff_values_apr_gguf_qwen2 --json diff "$Q_APR" "$Q_GGUF" --values --limit 100
capture tree_apr_qwen2 --json tree "$Q_APR" --sizes
capture oracle_apr_qwen2 --json oracle "$Q_APR"
capture oracle_gguf_llama --json oracle "$L_GGUF"
capture hex_apr_qwen2 --json hex "$Q_APR" --tensor=norm --stats
capture hex_gguf_qwen2 --json hex "$Q_GGUF" --tensor=output_norm --stats
capture hex_apr_nomatch --json hex "$Q_APR" --tensor=no-such-tensor
capture hex_gguf_nomatch --json hex "$Q_GGUF" --tensor=no-such-tensor
capture debug_apr_qwen2 --json debug "$Q_APR"
capture list --json list
capture rosetta_diff_tensors_apr_gguf_qwen2 --json rosetta diff-tensors "$Q_APR" "$Q_GGUF"
capture rosetta_diff_tensors_apr_gguf_llama --json rosetta diff-tensors "$L_APR" "$L_GGUF"
capture rosetta_fingerprint_apr_qwen2 --json rosetta fingerprint "$Q_APR"

# Model operations.
capture merge_apr_llama_self --json merge "$L_APR" "$L_APR" --strategy average -o "$WORK/merged.apr"
capture prune_apr_llama --json prune "$L_APR" --method magnitude --target-ratio 0.5 -o "$WORK/pruned.apr"
capture prune_plan_apr_llama --json prune "$L_APR" --method magnitude --target-ratio 0.5 --plan
capture prune_ratio_zero --json prune "$L_APR" --method magnitude --target-ratio 0 -o "$WORK/pruned0.apr"
capture quantize_apr_llama_int8 --json quantize "$L_APR" --scheme int8 -o "$WORK/quantized.apr"
capture merge_plan_apr_llama --json merge "$L_APR" "$L_APR" --strategy average --plan
capture quantize_plan_apr_llama --json quantize "$L_APR" --scheme int8 --plan
capture convert_apr_llama_zstd --json convert "$L_APR" --compress zstd -o "$WORK/zstd.apr"
capture finetune_plan_apr_llama --json finetune "$L_APR" --method lora --rank 4 --plan
printf '%s\n' '{"instruction":"Say hi","output":"hi"}' >"$WORK/distill.jsonl"
capture distill_apr_llama --json distill "$L_APR" --student "$L_APR" -d "$WORK/distill.jsonl" \
    --epochs 1 -o "$WORK/distilled.apr"
# apr's own encoder on a GGUF (it names the path it took), and its refusal of an .apr.
capture tokenize_encode_gguf_llama --json tokenize encode "$WORK/tiny-llama.gguf" --prompt="Hello world 123"
capture tokenize_encode_apr_refused --json tokenize encode "$L_APR" --prompt=Hello
# LoRA training at learning rate 0, run in its own folder: apr writes `checkpoints/` into the
# working directory whatever -o says. Then the adapter folded back into the model.
printf '%s\n' '{"instruction":"Say hi","response":"hi there"}' '{"instruction":"Count","response":"1 2 3"}' \
    >"$WORK/finetune.jsonl"
mkdir -p "$WORK/ft"
(cd "$WORK/ft" && capture finetune_apr_llama --json finetune "$L_APR" --method lora --rank 4 \
    -d "$WORK/finetune.jsonl" --epochs 1 --learning-rate 0 -o "$WORK/ft/adapter")
capture finetune_merge_apr_llama --json finetune "$L_APR" --merge \
    --adapter "$WORK/ft/checkpoints/best/model.safetensors" -o "$WORK/ft/merged.apr"
capture distill_plan_apr_llama --json distill "$L_APR" --student "$L_APR" -d "$WORK/distill.jsonl" \
    --epochs 1 --plan
# Stage dumps of one traced forward pass (text on stdout whatever --json says), with two of the
# files it wrote kept beside the capture for the stage-dump reader's test.
capture trace_stages_apr_llama --json trace "$L_APR" --save-tensor all --save-tensor-dir "$WORK/trace" \
    --save-tensor-layers 0..2
mkdir -p "$HERE/trace_stages_apr_llama/files/layer-0"
cp "$WORK/trace/layer-0/attn_norm.bin" "$HERE/trace_stages_apr_llama/files/layer-0/"
cp "$WORK/trace/lm_head.bin" "$HERE/trace_stages_apr_llama/files/"
capture trace_stages_gguf_refused --json trace "$L_GGUF" --save-tensor all --save-tensor-dir "$WORK/trace-gguf" \
    --save-tensor-layers 0..2
# Runtimes.
capture run_gguf_qwen2_logprobs --json run "$Q_GGUF" '--prompt=def add(a, b):' --max-tokens 8 \
    --temperature 0 --no-gpu --logprobs 3
capture run_apr_qwen2 --json run "$Q_APR" '--prompt=def add(a, b):' --max-tokens 8 --temperature 0 --no-gpu
capture run_gguf_llama --json run "$L_GGUF" '--prompt=def add(a, b):' --max-tokens 8 --temperature 0 --no-gpu
capture run_apr_gpt2 --json run "$G_APR" '--prompt=def add(a, b):' --max-tokens 8 --temperature 0 --no-gpu
capture run_apr_logprobs_refused --json run "$Q_APR" '--prompt=def add(a, b):' --max-tokens 4 \
    --temperature 0 --no-gpu --logprobs 3
capture run_gguf_one_token --json run "$Q_GGUF" '--prompt=<|endoftext|>' --max-tokens 1 --temperature 0 --no-gpu
capture run_max_tokens_zero --json run "$Q_GGUF" '--prompt=def add(a, b):' --max-tokens 0 --temperature 0 --no-gpu
capture run_missing --json run "$WORK/absent.gguf" '--prompt=hi' --max-tokens 4 --no-gpu
capture eval_gguf_qwen2_text --json eval "$Q_GGUF" --dataset custom \
    '--text=def add(a, b): return a + b' --max-tokens 512 --threshold 1000000000
capture eval_gguf_qwen2_builtin --json eval "$Q_GGUF" --threshold 20
capture eval_apr_qwen2 --json eval "$Q_APR" --threshold 1000000000
capture bench_gguf_qwen2 --json bench "$Q_GGUF" --iterations 2 --warmup 0 --max-tokens 8
capture bench_apr_qwen2 --json bench "$Q_APR" --iterations 2 --warmup 0 --max-tokens 8
capture bench_iterations_zero --json bench "$Q_GGUF" --iterations 0 --warmup 0 --max-tokens 4
capture qa_gguf_qwen2 --json qa "$Q_GGUF" --skip-golden --skip-throughput --skip-ollama \
    --skip-gpu-speedup --skip-ptx-parity --skip-gpu-state --skip-metadata
capture qa_apr_qwen2_all_gates --json qa "$Q_APR" --skip-ollama --skip-gpu-speedup --skip-ptx-parity \
    --skip-gpu-state
capture qa_previous_report_missing --json qa "$Q_GGUF" --skip-golden --skip-throughput --skip-ollama \
    --skip-gpu-speedup --skip-ptx-parity --skip-gpu-state --skip-metadata --previous-report "$WORK/absent.json"
capture parity_gguf_qwen2 --json parity "$Q_GGUF" '--prompt=def add(a, b):'
# Hub commands run with --offline so that a machine with network does not download a model.
capture compare_hf_offline --json --offline compare-hf "$Q_APR" --hf=Qwen/Qwen2-0.5B
capture pull_dry_run --json pull hf://Qwen/Qwen2-0.5B-Instruct-GGUF --dry-run
capture pull_offline --json --offline pull hf://Qwen/Qwen2-0.5B-Instruct-GGUF

echo "captures written to $HERE" >&2
