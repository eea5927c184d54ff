# The two commands that work on a fresh machine with only the .NET SDK: `make run` and `make test`.
DOTNET ?= dotnet
CONFIG ?= Release
RUN_DIR ?= .run
RUN_BROKER_PORT ?= 1883
DEVICE := out/device/edgellm

.PHONY: build test test-deps run run-fleet chat bench bench-mqtt bench-fleet bench-update eval-manuals clean publish deb

## build: publish the device executable to out/device/edgellm and the fleet server to out/fleet/edgellm-fleet
## (framework-dependent)
build:
	$(DOTNET) publish src/EdgeLlm.Cli/EdgeLlm.Cli.csproj -c $(CONFIG) -o out/device --self-contained false -nologo -v q
	$(DOTNET) publish src/EdgeLlm.Fleet/EdgeLlm.Fleet.csproj -c $(CONFIG) -o out/fleet --self-contained false -nologo -v q

## test: install what the tests need (apt, npm reference data) and run every test
test: test-deps
	scripts/run-tests.sh

test-deps:
	scripts/test-deps.sh

## run: the device agent on embedded defaults: an MQTT broker inside the agent on 127.0.0.1:$(RUN_BROKER_PORT), data in
## $(RUN_DIR)/data with the sample manual of samples/manuals ingested (unchanged files are a hash check). Retrieval-only by
## default (answers are the cited manual passages); RUN_MODEL=synth adds a tiny SYNTHESIZED model (random weights: noise)
RUN_MODEL ?= none
SYNTH_MODEL := $(abspath $(RUN_DIR))/models/tiny-qwen2
run: build
ifeq ($(RUN_MODEL),synth)
	@[ -f $(SYNTH_MODEL)/genai_config.json ] || $(DEVICE) model synth --family qwen2 --shape tiny --quant int4 --seed 1 --out $(SYNTH_MODEL)
	$(DEVICE) manuals add samples/manuals --data-dir $(abspath $(RUN_DIR))/data --tokenizer $(SYNTH_MODEL)
	@echo "edgellm agent: SYNTHESIZED model $(SYNTH_MODEL) (its answers are noise; the citations are real)."
else
	$(DEVICE) manuals add samples/manuals --data-dir $(abspath $(RUN_DIR))/data
	@echo "edgellm agent: retrieval-only (no model; answers are the cited manual passages). RUN_MODEL=synth adds a tiny synthesized model."
endif
	@echo "Embedded broker on 127.0.0.1:$(RUN_BROKER_PORT), data in $(RUN_DIR)/data, sample manual: samples/manuals."
	@echo "From a second terminal:  $(DEVICE) ask \"What does E-17 mean?\" --broker 127.0.0.1:$(RUN_BROKER_PORT)"
	@echo "                         $(DEVICE) status --broker 127.0.0.1:$(RUN_BROKER_PORT)"
	@echo "Ctrl+C stops the agent."
	DOTNET_TieredCompilation=0 $(DEVICE) agent --data-dir $(abspath $(RUN_DIR))/data --model $(if $(filter synth,$(RUN_MODEL)),$(SYNTH_MODEL),none) --broker embedded --broker-port $(RUN_BROKER_PORT)

## run-fleet: the fleet server on embedded defaults (SQLite in $(RUN_DIR)/fleet, http://127.0.0.1:$(FLEET_PORT)); the first
## start prints the admin key unless EDGELLM_FLEET_ADMIN_KEY is set
FLEET_PORT ?= 8080
run-fleet: build
	out/fleet/edgellm-fleet --urls http://127.0.0.1:$(FLEET_PORT) --data-dir $(abspath $(RUN_DIR))/fleet

## chat: an interactive chat on the tiny synthesized model, without the agent
chat: build
	@[ -f $(RUN_DIR)/models/tiny-qwen2/genai_config.json ] || $(DEVICE) model synth --family qwen2 --shape tiny --quant int4 --seed 1 --out $(RUN_DIR)/models/tiny-qwen2
	$(DEVICE) chat --model $(RUN_DIR)/models/tiny-qwen2

## bench: the runtime benchmark of docs/benchmarks.md on a synthesized Qwen2.5-0.5B int4 model: the builder's graph and the
## pruned one (last-position logits), prompts of 128 and 512 tokens, prefix-cache hit vs miss, bare Run loop, spinning on/off
BENCH_RUNS ?= 5
bench: build
	@[ -f $(RUN_DIR)/models/qwen2.5-0.5b-int4/genai_config.json ] || $(DEVICE) model synth --family qwen2 --shape qwen2.5-0.5b --quant int4 --seed 1 --out $(RUN_DIR)/models/qwen2.5-0.5b-int4
	$(DEVICE) bench --model $(RUN_DIR)/models/qwen2.5-0.5b-int4 --suite --prompt-tokens 128 512 --gen-tokens 128 --threads 2 --runs $(BENCH_RUNS) --json > $(RUN_DIR)/bench-suite.json
	@cat $(RUN_DIR)/bench-suite.json

## bench-mqtt: MQTT overhead of the agent (ask to first chunk / answer minus the engine's own time) on the tiny model
bench-mqtt: build
	$(DEVICE) bench-mqtt --requests 200 --clients 8 --json

## bench-fleet: the fleet load generator against the server on a throw-away PostgreSQL cluster (docs/benchmarks.md)
bench-fleet: build
	scripts/bench-fleet.sh

## bench-update: a ~860 MB model bundle from the fleet server to a real agent over loopback against a plain copy on the same
## disk: download MiB/s, verify+unpack, load, memory per phase, time from `active` to the first answer (docs/benchmarks.md)
bench-update: build
	SKIP_BUILD=1 scripts/bench-update.sh

## eval-manuals: retrieval quality on the Klipper manuals (../shared/data/manuals/klipper): recall@1/@5, MRR vs a keyword baseline
eval-manuals:
	$(DOTNET) test tests/EdgeLlm.Knowledge.Tests -c $(CONFIG) --filter "FullyQualifiedName~RetrievalEvaluation" --logger "console;verbosity=detailed" -nologo

## publish: the device agent for RID (linux-arm64, linux-x64), self-contained in one folder out/publish/$(RID) with the
## native ONNX Runtime and SQLite libraries of that platform; not trimmed (docs/provisioning.md says why). Intermediate
## files go to out/artifacts/$(RID), so it never touches the obj/ folders of a normal build.
RID ?= linux-arm64
PUBLISH_DIR ?= out/publish/$(RID)
publish:
	$(DOTNET) publish src/EdgeLlm.Cli/EdgeLlm.Cli.csproj -c $(CONFIG) -r $(RID) --self-contained true \
		--artifacts-path out/artifacts/$(RID) -o $(PUBLISH_DIR) \
		-p:DebugType=none -p:GenerateDocumentationFile=false -p:SatelliteResourceLanguages=en -nologo -v q
	@du -sh $(PUBLISH_DIR)

## deb: the Debian package out/deb/edgellm_VERSION_ARCH.deb of the $(RID) publish (dpkg-deb only)
deb: publish
	provisioning/deb/build-deb.sh --rid $(RID) --publish-dir $(PUBLISH_DIR) --out out/deb

clean:
	rm -rf out TestResults $(RUN_DIR) src/*/bin src/*/obj tests/*/bin tests/*/obj
