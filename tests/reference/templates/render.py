"""Renders chat templates exactly as Hugging Face transformers' apply_chat_template does (same Jinja
environment, globals and tojson), so the C# interpreter can be compared with Jinja byte for byte.

Usage: render.py REPO_ROOT OUT_DIR
Writes OUT_DIR/<name>.json = {name, source, bos_token, eos_token, cases: [{messages,
add_generation_prompt, expected | error}]} for every template, and OUT_DIR/snippets.json.
"""
import datetime
import json
import os
import re
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

# strftime_now reads this instead of the clock so the reference is reproducible; the C# tests pass the same instant.
FIXED_NOW = datetime.datetime(2026, 3, 7, 14, 5, 9)


class TemplateError(Exception):
    pass


def make_environment():
    # transformers' _compile_jinja_template: the same flags, globals and tojson.
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(value):
    if isinstance(value, dict):
        return value.get("content")
    return value


def conversations():
    long_text = " ".join(f"Sentence {i} about the pump's pressure, flow and temperature." for i in range(60))
    s, u, a = "system", "user", "assistant"
    convs = [
        [(s, "You are a maintenance assistant."), (u, "What is the max pressure?"), (a, "It is 6 bar."), (u, "And the minimum?")],
        [(u, "Hello!"), (a, "Hi, how can I help?"), (u, "Tell me a joke.")],
        [(u, "Hello!")],
        [(s, "Be brief."), (u, "Hi")],
        [(u, "Question?"), (a, "Answer.")],
        [(s, "Sys"), (u, "Q1"), (a, "A1"), (u, "Q2"), (a, "A2")],
        [(u, long_text), (a, long_text[:500])],
        [(u, "Render {{ x }} and {% if y %}literally{% endif %} {# not a comment #}"), (a, "{{ '{{' }} stays text")],
        [(u, 'She said "hi" and it\'s fine; backslash \\ and \\n literal')],
        [(u, "line one\nline two\n\n  indented\ttab\r\nwindows line"), (a, "\n\nleading and trailing newlines\n\n")],
        [(u, "Unicode: café, 日本語, Ελληνικά, emoji 🚀🔧, ümlaut")],
        [(u, ""), (a, ""), (u, "")],
        [(s, ""), (u, "empty system")],
        [(u, "   spaces around   "), (a, "  padded answer  ")],
        [(u, "<think>internal</think>visible"), (a, "<think>\nreasoning\n</think>\n\nfinal answer"), (u, "next")],
        [(u, "a"), (a, "b"), (u, "c"), (a, "d"), (u, "e"), (a, "f"), (u, "g")],
        [(u, "Pressure of pump 2?"), (a, '<tool_call>\n{"name": "read", "arguments": {"pump": 2}}\n</tool_call>'),
         ("tool", '{"bar": 5.5}'), ("tool", '{"unit": "bar"}'), (a, "5.5 bar.")],
    ]
    for conv in convs:
        yield [{"role": r, "content": c} for r, c in conv]


def error_conversations():
    # Orders some formats refuse: the C# side must surface the template's own message.
    yield [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "ok"}]
    yield [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]


def render_cases(env, source, bos, eos):
    template = env.from_string(source)
    cases = []
    convs = list(conversations()) + list(error_conversations())
    for messages in convs:
        for add in (False, True):
            kwargs = {}
            if bos is not None:
                kwargs["bos_token"] = bos
            if eos is not None:
                kwargs["eos_token"] = eos
            case = {"messages": messages, "add_generation_prompt": add}
            try:
                case["expected"] = template.render(messages=messages, tools=None, documents=None, add_generation_prompt=add, **kwargs)
            except TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
    return cases


def builtin_templates(cs_path):
    # BuiltInTemplates.cs holds each template as a C# raw string literal; undo the literal's indentation.
    text = open(cs_path, encoding="utf-8").read()
    found = {}
    for m in re.finditer(r'public const string (\w+) =\s*"""\n(.*?)\n([ \t]*)""";', text, re.S):
        name, body, indent = m.group(1), m.group(2), m.group(3)
        lines = [line[len(indent):] if line.startswith(indent) else line.lstrip(" \t") for line in body.split("\n")]
        found[name] = "\n".join(lines)
    if not found:
        raise SystemExit(f"render.py: no templates found in {cs_path}")
    return found


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    env = make_environment()
    tdir = os.path.join(root, "tests", "reference", "templates")
    real = os.path.join(root, "tests", "reference", "node_modules", "@lenml")
    llama2_config = json.load(open(os.path.join(real, "tokenizer-llama2", "models", "tokenizer_config.json"), encoding="utf-8"))

    jobs = []
    for name in ("qwen3", "llama3", "gemma3"):
        folder = os.path.join(real, f"tokenizer-{name}", "models")
        config = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
        jobs.append((name, {"folder": os.path.relpath(folder, root)}, config["chat_template"],
                     token_text(config.get("bos_token")), token_text(config.get("eos_token"))))
    # The llama2 package ships no chat_template: the project's own text of Llama 2's format, with the package's tokens.
    own = {
        "llama2": (token_text(llama2_config["bos_token"]), token_text(llama2_config["eos_token"])),
        "qwen2.5": (None, "<|im_end|>"),
        "smollm2": ("<|im_start|>", "<|im_end|>"),
        "phi3": ("<s>", "<|endoftext|>"),
        "mistral": ("<s>", "</s>"),
        "features": ("<s>", "</s>"),
    }
    for name, (bos, eos) in own.items():
        path = os.path.join(tdir, f"{name}.jinja")
        jobs.append((name, {"file": os.path.relpath(path, root)}, open(path, encoding="utf-8").read(), bos, eos))
    for name, source in builtin_templates(os.path.join(root, "src", "EdgeLlm.Runtime", "ChatTemplates", "BuiltInTemplates.cs")).items():
        jobs.append((f"builtin-{name}", {"builtin": name}, source, "<s>", "</s>"))

    for name, where, source, bos, eos in jobs:
        doc = {"name": name, "source": where, "bos_token": bos, "eos_token": eos, "now": FIXED_NOW.isoformat(),
               "cases": render_cases(env, source, bos, eos)}
        with open(os.path.join(out_dir, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)

    snippets = json.load(open(os.path.join(tdir, "snippets.json"), encoding="utf-8"))
    results = []
    for s in snippets:
        item = {"template": s["template"], "vars": s.get("vars", {})}
        try:
            item["expected"] = env.from_string(s["template"]).render(**item["vars"])
        except (TemplateError, jinja2.TemplateError, TypeError, ValueError, ZeroDivisionError) as e:
            item["error"] = f"{type(e).__name__}: {e}"
        results.append(item)
    with open(os.path.join(out_dir, "snippets.json"), "w", encoding="utf-8") as f:
        json.dump({"now": FIXED_NOW.isoformat(), "snippets": results}, f, ensure_ascii=False, indent=1)
    print(f"render.py: wrote {len(jobs)} templates and {len(results)} snippets to {out_dir}")


if __name__ == "__main__":
    main()
