# The two commands that work on a fresh machine with only the .NET SDK: `make run` and `make test`.
DOTNET ?= dotnet
CONFIG ?= Release
RUN_DIR ?= .run
DEVICE := out/device/edgellm

.PHONY: build test test-deps run bench eval-manuals clean

## build: publish the device executable to out/device/edgellm (framework-dependent)
build:
	$(DOTNET) publish src/EdgeLlm.Cli/EdgeLlm.Cli.csproj -c $(CONFIG) -o out/device --self-contained false -nologo -v q

## test: install what the tests need (apt, npm reference data) and run every test
test: test-deps
	scripts/run-tests.sh

test-deps:
	scripts/test-deps.sh

## run: the product's main job on embedded defaults (an interactive chat on a synthesized model)
run: build
	@[ -f $(RUN_DIR)/models/tiny-qwen2/genai_config.json ] || $(DEVICE) model synth --family qwen2 --shape tiny --quant int4 --seed 1 --out $(RUN_DIR)/models/tiny-qwen2
	$(DEVICE) chat --model $(RUN_DIR)/models/tiny-qwen2

## bench: the runtime benchmark of docs/benchmarks.md on a synthesized Qwen2.5-0.5B int4 model: the builder's graph and the
## pruned one (last-position logits), prompts of 128 and 512 tokens, prefix-cache hit vs miss, bare Run loop, spinning on/off
BENCH_RUNS ?= 5
bench: build
	@[ -f $(RUN_DIR)/models/qwen2.5-0.5b-int4/genai_config.json ] || $(DEVICE) model synth --family qwen2 --shape qwen2.5-0.5b --quant int4 --seed 1 --out $(RUN_DIR)/models/qwen2.5-0.5b-int4
	$(DEVICE) bench --model $(RUN_DIR)/models/qwen2.5-0.5b-int4 --suite --prompt-tokens 128 512 --gen-tokens 128 --threads 2 --runs $(BENCH_RUNS) --json > $(RUN_DIR)/bench-suite.json
	@cat $(RUN_DIR)/bench-suite.json

## eval-manuals: retrieval quality on the Klipper manuals (../shared/data/manuals/klipper): recall@1/@5, MRR vs a keyword baseline
eval-manuals:
	$(DOTNET) test tests/EdgeLlm.Knowledge.Tests -c $(CONFIG) --filter "FullyQualifiedName~RetrievalEvaluation" --logger "console;verbosity=detailed" -nologo

clean:
	rm -rf out TestResults $(RUN_DIR) src/*/bin src/*/obj tests/*/bin tests/*/obj
