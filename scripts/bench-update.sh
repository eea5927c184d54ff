#!/usr/bin/env bash
# The model-update benchmark (docs/benchmarks.md, "Model updates"): a model bundle of about 860 MB from the fleet
# server to a real `edgellm agent` over loopback, against a plain copy of the same file on the same disk.
#
#  1. synthesizes a model (SHAPE, int4) and signs it into an uncompressed bundle (int4 weights do not compress), plus a
#     tiny model bundle the agent starts with;
#  2. starts edgellm-fleet (SQLite) and an enrolled `edgellm agent` (embedded broker) on free loopback ports, uploads the
#     bundle, and starts `edgellm bench-update`, which follows the agent's events topic, samples /proc/PID/status every
#     SAMPLE_MS and, once the agent is ready, takes the idle memory baseline;
#  3. baseline: `cp` of the bundle next to itself + `sync FILE` (the source is in the page cache), COPY_RUNS times,
#     median MiB/s, right before the download (after the memory warm-up explained below), and one `curl` of the artifact
#     from the same server into the same disk + sync, for the cost of HTTP over loopback alone, and COPY_RUNS of curl
#     into /dev/null (median): what the server and loopback can deliver to a client that does nothing with the bytes;
#  4. sets the device's desired model to the bundle; the observer asks the new model a question the moment `active`
#     arrives, then writes its figures; this script writes RESULT (JSON) and prints each figure against its target.
# Stops only what it started, by PID. Deletes the big files (models, bundles, copies, slots) at the end unless KEEP=1.
#
# Settings (environment): SHAPE (qwen2.5-0.5b: an 862 MB bundle, the smallest shape
# of at least 500 MB; smollm2-360m gives 420 MB), COPY_RUNS (3), SAMPLE_MS (100),
# WARM (1), TIMEOUT (600 s for everything after the build), KEEP (0), SKIP_BUILD (0), RUN_DIR (.run),
# RESULT ($RUN_DIR/bench-update.json).
set -euo pipefail
cd "$(dirname "$0")/.."

SHAPE=${SHAPE:-qwen2.5-0.5b}
COPY_RUNS=${COPY_RUNS:-3}
WARM=${WARM:-1}
SETTLE_PERCENT=${SETTLE_PERCENT:-3}
SETTLE_TIMEOUT=${SETTLE_TIMEOUT:-120}
SAMPLE_MS=${SAMPLE_MS:-100}
TIMEOUT=${TIMEOUT:-600}
KEEP=${KEEP:-0}
RUN_DIR=${RUN_DIR:-.run}
RESULT=${RESULT:-$RUN_DIR/bench-update.json}
DOTNET=${DOTNET:-dotnet}
NAME=bench-$SHAPE
VERSION=2.0.0
DEVICE_ID=bench-update
EDGELLM=out/device/edgellm

say() { echo "bench-update: $*" >&2; }
die() { say "$*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
wait_gone() { for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    "$DOTNET" publish src/EdgeLlm.Cli/EdgeLlm.Cli.csproj -c Release -o out/device --self-contained false -nologo -v q
    "$DOTNET" publish src/EdgeLlm.Fleet/EdgeLlm.Fleet.csproj -c Release -o out/fleet --self-contained false -nologo -v q
fi

# Everything after the build is bounded: each step gets what is left of TIMEOUT and fails with its name when it runs out.
DEADLINE=$((SECONDS + TIMEOUT))
step() {
    local what=$1 rc=0 left=$((DEADLINE - SECONDS)); shift
    [ "$left" -gt 0 ] || die "out of time (TIMEOUT=$TIMEOUT s) before step '$what'"
    timeout --kill-after=10 "$left" "$@" || rc=$?
    [ "$rc" = 124 ] && die "step '$what' timed out (TIMEOUT=$TIMEOUT s for the whole run)"
    [ "$rc" = 0 ] || die "step '$what' failed (exit $rc)"
}
# Polls "$@" until it succeeds, within what is left of TIMEOUT; $1 names the wait, $2 a PID that must stay alive.
wait_for() {
    local what=$1 pid=$2; shift 2
    until "$@" > /dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || return 1
        [ $((DEADLINE - SECONDS)) -gt 0 ] || die "timed out waiting for $what (TIMEOUT=$TIMEOUT s)"
        sleep 0.1
    done
}

WORK=$(realpath -m "$RUN_DIR/bench-update")
LOGS=$(realpath -m "$RUN_DIR/bench-update-logs")
mkdir -p "$WORK" "$LOGS"
SERVER_PID=""
AGENT_PID=""
OBSERVER_PID=""
stop_pid() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        wait_gone "$1" || kill -KILL "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$OBSERVER_PID"
    stop_pid "$AGENT_PID"
    stop_pid "$SERVER_PID"
    if [ "$KEEP" != 1 ]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh fleet and device every run; the synthesized models are kept with KEEP=1 (same seed, same bytes).
rm -rf "$WORK/fleet" "$WORK/device" "$WORK/copy" "$WORK/ready" "$LOGS"/*
MODEL=$WORK/models/$SHAPE
TINY=$WORK/models/tiny
if [ ! -f "$MODEL/genai_config.json" ]; then
    say "synthesizing $SHAPE int4 into $MODEL"
    step "synthesize $SHAPE" "$EDGELLM" model synth --family qwen2 --shape "$SHAPE" --quant int4 --seed 1 --out "$MODEL" > "$LOGS/synth.log" 2>&1
fi
if [ ! -f "$TINY/genai_config.json" ]; then
    step "synthesize tiny" "$EDGELLM" model synth --family qwen2 --shape tiny --quant int4 --seed 1 --out "$TINY" > /dev/null 2>&1
fi

KEY=$WORK/publisher
[ -f "$KEY.key" ] || step "keys generate" "$EDGELLM" keys generate --out "$KEY" > /dev/null
SMOKE=$WORK/smoke.json
echo '{"prompts":[{"prompt":"Say OK","max_tokens":4}],"timeout_seconds":120}' > "$SMOKE"
BUNDLE=$WORK/$NAME-$VERSION.edgebundle
TINY_BUNDLE=$WORK/tiny-1.0.0.edgebundle
# No --gzip: the default, and what a real int4 model bundle uses.
step "bundle create" "$EDGELLM" bundle create --kind model --from "$MODEL" --name "$NAME" --version "$VERSION" --key "$KEY.key" \
    --smoke "$SMOKE" --out "$BUNDLE" > /dev/null
step "bundle create tiny" "$EDGELLM" bundle create --kind model --from "$TINY" --name tiny --version 1.0.0 --key "$KEY.key" \
    --smoke "$SMOKE" --out "$TINY_BUNDLE" > /dev/null
BUNDLE_BYTES=$(stat -c %s "$BUNDLE")
MODEL_BYTES=$(du -sb "$MODEL" | cut -f1)
say "bundle $BUNDLE: $BUNDLE_BYTES bytes (payload $MODEL_BYTES bytes, not gzipped)"

# The fleet server, trusting the publisher key.
PORT=$(free_port)
SERVER=http://127.0.0.1:$PORT
ADMIN_KEY="eak_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
export EDGELLM_FLEET_ADMIN_KEY=$ADMIN_KEY
out/fleet/edgellm-fleet --urls "$SERVER" --data-dir "$WORK/fleet" "--Fleet:TrustedPublisherKeys:0=$KEY.pub" > "$LOGS/server.log" 2>&1 &
SERVER_PID=$!
wait_for "the fleet server" "$SERVER_PID" curl -fsS "$SERVER/healthz" || { cat "$LOGS/server.log" >&2; die "the fleet server exited"; }

# The device: enrolled, the tiny model active, updates checked every second.
TOKEN=$(timeout 60 "$EDGELLM" fleet tokens create --server "$SERVER" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
mkdir -p "$WORK/device"
step "enroll" "$EDGELLM" enroll --server "$SERVER" --token "$TOKEN" --device-id "$DEVICE_ID" --data-dir "$WORK/device" > /dev/null
BROKER_PORT=$(free_port)
CONFIG=$WORK/agent.json
cat > "$CONFIG" <<EOF
{
  "Agent": { "DeviceId": "$DEVICE_ID", "DataDir": "$WORK/device", "AllowSynthesizedModel": true, "QueryLog": false },
  "Broker": { "Mode": "embedded", "Port": $BROKER_PORT },
  "Fleet": { "PollIntervalSeconds": 1 },
  "Updates": { "TrustedKeys": [ "$KEY.pub" ], "CheckIntervalSeconds": 1 }
}
EOF
step "bundle import tiny" "$EDGELLM" bundle import "$TINY_BUNDLE" --config "$CONFIG" > /dev/null

say "uploading the bundle to $SERVER"
UPLOAD_START=$(now)
step "upload" curl -fsS -X POST -T "$BUNDLE" -H "Authorization: Bearer $ADMIN_KEY" -H "Content-Type: application/octet-stream" \
    -o "$LOGS/upload.json" "$SERVER/api/v1/bundles"
UPLOAD_SECONDS=$(since "$UPLOAD_START")
SHA256=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$LOGS/upload.json")

# The agent runs with the environment of the shipped systemd unit (DOTNET_TieredCompilation=0 among it).
# shellcheck disable=SC2046
env $(sed -n 's/^Environment=//p' provisioning/systemd/edgellm-agent.service) "$EDGELLM" agent --config "$CONFIG" > "$LOGS/agent.log" 2>&1 &
AGENT_PID=$!
# The observer is the instrument: niced, and compiled once (no background recompilation), so that it takes as little as
# possible of the two cores from what it measures.
DOTNET_TieredCompilation=0 nice -n 10 "$EDGELLM" bench-update --broker "127.0.0.1:$BROKER_PORT" --device "$DEVICE_ID" --pid "$AGENT_PID" --server-pid "$SERVER_PID" --model "$NAME@$VERSION" \
    --bundle-bytes "$BUNDLE_BYTES" --sample-ms "$SAMPLE_MS" --ready-file "$WORK/ready" --timeout $((DEADLINE - SECONDS > 1 ? DEADLINE - SECONDS : 1)) --json \
    > "$LOGS/observation.json" 2> "$LOGS/observation.err" &
OBSERVER_PID=$!
wait_for "the agent to be ready and the baseline taken" "$OBSERVER_PID" test -f "$WORK/ready" \
    || { cat "$LOGS/observation.err" >&2; tail -n 20 "$LOGS/agent.log" >&2; die "the observer exited before the update started"; }
kill -0 "$AGENT_PID" 2>/dev/null || { tail -n 20 "$LOGS/agent.log" >&2; die "the agent exited"; }

say "agent pid $AGENT_PID ready (broker 127.0.0.1:$BROKER_PORT)"

# This machine is a VM whose memory the host backs on first touch: page cache that grows into memory never used before
# is written at a fraction of the speed of page cache that reuses freed memory, whatever the disk. So that the copy and
# the download (and the unpack after it) measure the same thing, both write into memory freed just before: a scratch
# file of twice the bundle is written (its speed is that of fresh memory, kept as a figure) and deleted. WARM=0 skips it.
WARM_MIB_PER_S=null
if [ "$WARM" = 1 ]; then
    count=$(( BUNDLE_BYTES * 2 / 1048576 + 1 ))
    start=$(now)
    step "warm" dd if=/dev/zero of="$WORK/warm" bs=1M count="$count" conv=fdatasync status=none
    WARM_MIB_PER_S=$(awk -v n="$count" -v s="$(since "$start")" 'BEGIN { printf "%.1f", n / s }')
    rm -f "$WORK/warm"
fi

# The agent, the observer and the server were all started seconds ago: .NET's tiered compilation keeps recompiling
# their hot start-up code in the background for a while (measured: 0.8 CPU-s of the agent's JIT thread fell into a 2 s
# download on 2 cores). A device takes updates long after its start, so wait until all three are idle: at most
# SETTLE_PERCENT of a core each over a whole second, for at most SETTLE_TIMEOUT s. The download path's own first
# compilation still counts, as it does on a device.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
SETTLE_START=$(now)
SETTLED=false
HZ=$(getconf CLK_TCK)
while [ "$(awk -v a="$SETTLE_START" -v b="$(now)" 'BEGIN { print (b - a < '"$SETTLE_TIMEOUT"') }')" = 1 ]; do
    before=("$(ticks "$AGENT_PID")" "$(ticks "$OBSERVER_PID")" "$(ticks "$SERVER_PID")")
    sleep 1
    after=("$(ticks "$AGENT_PID")" "$(ticks "$OBSERVER_PID")" "$(ticks "$SERVER_PID")")
    busy=0
    for i in 0 1 2; do
        [ $(( (after[i] - before[i]) * 100 )) -le $(( SETTLE_PERCENT * HZ )) ] || busy=1
    done
    if [ "$busy" = 0 ]; then SETTLED=true; break; fi
done
SETTLE_SECONDS=$(since "$SETTLE_START")
say "settled: $SETTLED after $SETTLE_SECONDS s (agent, observer and server each <= $SETTLE_PERCENT % of a core over 1 s)"

# Baseline: the same bytes copied on the same disk and made durable, right before the download. The page cache is not
# dropped (that needs root and would disturb the other users of this machine): the source is warm, as the server's copy
# is for the download.
cat "$BUNDLE" > /dev/null
COPY_SECONDS=()
for i in $(seq 1 "$COPY_RUNS"); do
    rm -f "$WORK/copy"
    start=$(now)
    step "copy $i" cp "$BUNDLE" "$WORK/copy"
    step "sync $i" sync "$WORK/copy"
    COPY_SECONDS+=("$(since "$start")")
    rm -f "$WORK/copy"
done
# For scale: the same artifact fetched by curl from the same server into a file on the same disk, + sync (the HTTP and
# loopback cost without the agent's hashing and bookkeeping).
rm -f "$WORK/copy"
start=$(now)
step "curl" curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -o "$WORK/copy" "$SERVER/api/v1/artifacts/$SHA256"
step "sync curl" sync "$WORK/copy"
CURL_SECONDS=$(since "$start")
rm -f "$WORK/copy"
# The ceiling of any client of this server here: curl throwing the bytes away (no file, no hash), COPY_RUNS times, median.
NULL_SECONDS=()
for i in $(seq 1 "$COPY_RUNS"); do
    start=$(now)
    step "curl to /dev/null $i" curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -o /dev/null "$SERVER/api/v1/artifacts/$SHA256"
    NULL_SECONDS+=("$(since "$start")")
done
say "copy + sync: ${COPY_SECONDS[*]} s; curl + sync: $CURL_SECONDS s; curl to /dev/null: ${NULL_SECONDS[*]} s; setting the desired model $NAME@$VERSION"
DESIRED_AT=$(now)
# Through the API: `edgellm fleet device desired --model NAME@VERSION` sends no SHA-256, and the agent installs only
# models named by one.
step "set desired" curl -fsS -X PUT -H "Authorization: Bearer $ADMIN_KEY" -H "Content-Type: application/json" -o /dev/null \
    --data "{\"model\":{\"name\":\"$NAME\",\"version\":\"$VERSION\",\"sha256\":\"$SHA256\"}}" "$SERVER/api/v1/devices/$DEVICE_ID/desired"
rc=0
wait "$OBSERVER_PID" || rc=$?
OBSERVER_PID=""
if [ "$rc" != 0 ]; then
    cat "$LOGS/observation.err" >&2
    tail -n 30 "$LOGS/agent.log" >&2
    die "the update was not observed to the end (exit $rc); logs in $LOGS"
fi

mkdir -p "$(dirname "$RESULT")"
python3 - "$LOGS/observation.json" "$RESULT" "$BUNDLE_BYTES" "$MODEL_BYTES" "$SHAPE" "$UPLOAD_SECONDS" "$WORK" "$DESIRED_AT" "$WARM_MIB_PER_S" "$CURL_SECONDS" "$(IFS=,; echo "${NULL_SECONDS[*]}")" "${COPY_SECONDS[@]}" <<'EOF'
import datetime, json, os, platform, statistics, subprocess, sys
obs_path, result_path, bundle_bytes, model_bytes, shape, upload_s, work, desired_at, warm, curl_s, nulls, *copies = sys.argv[1:]
obs = json.load(open(obs_path))
bundle_bytes, model_bytes = int(bundle_bytes), int(model_bytes)
mib = bundle_bytes / 1048576
copy_runs = [round(mib / float(c), 1) for c in copies]
copy = statistics.median(copy_runs)
null_runs = [round(mib / float(c), 1) for c in nulls.split(",")]
null = statistics.median(null_runs)
def first(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None
df = subprocess.run(["df", "-T", work], capture_output=True, text=True).stdout.splitlines()[-1].split()
download = obs["download_mib_per_s"]
def ts(state):
    for e in obs["events"]:
        if e["state"].startswith(state):
            return datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")[:26] + "+00:00").timestamp()
desired_at = float(desired_at)
after_desired = {"desired_to_download_s": round(ts("downloading") - desired_at, 3), "desired_to_active_s": round(ts("active") - desired_at, 3)}
growth = obs["growth_download_verify_unpack_mib"]
answer = obs["first_answer"]
result = {
    "machine": {
        "cores": os.cpu_count(), "cpu": first("/proc/cpuinfo", "model name"), "os": first("/etc/os-release", "PRETTY_NAME="),
        "kernel": platform.release(), "disk": {"device": df[0], "filesystem": df[1]}, "load_average": os.getloadavg(),
    },
    "bundle": {"shape": shape, "quant": "int4", "bytes": bundle_bytes, "payload_bytes": model_bytes, "gzip": False},
    "upload_s": round(float(upload_s), 2),
    "copy_mib_per_s": {"median": copy, "runs": copy_runs},
    "curl_mib_per_s": round(mib / float(curl_s), 1),
    "curl_to_null_mib_per_s": {"median": null, "runs": null_runs, "of_copy": round(null / copy, 2)},
    "fresh_memory_write_mib_per_s": None if warm == "null" else float(warm),
    "after_desired": after_desired,
    "update": obs,
    "targets": {
        "throughput_ratio": {"measured": round(download / copy, 2), "target": ">= 0.80", "met": download >= 0.8 * copy},
        "memory_growth_download_verify_unpack_mib": {"measured": growth, "target": "<= 61.0 MiB (64 MB)", "met": growth <= 64e6 / 1048576},
        "active_to_first_answer_ms": {"measured": answer["active_to_answer_ms"], "target": "measured"},
    },
}
json.dump(result, open(result_path, "w"), indent=2)
s, m, t = obs["seconds"], obs["memory"], result["targets"]
yes = lambda ok: "met" if ok else "MISSED"
print(f"""bundle: {shape} int4, {bundle_bytes / 1e6:.0f} MB ({mib:.0f} MiB), not gzipped; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores
copy (cp + sync, warm source):   {copy:.1f} MiB/s (runs {copy_runs}); fresh-memory write {warm} MiB/s
curl from the server (+ sync):   {result['curl_mib_per_s']:.1f} MiB/s
curl from the server, discarded: {null:.1f} MiB/s (runs {null_runs}) = {null / copy:.2f} of the copy: the ceiling of any client here
download / that ceiling:         {download / null:.2f}
download:                        {download:.1f} MiB/s in {s['download_s']:.2f} s = {t['throughput_ratio']['measured']:.2f} of the copy (target >= 0.80: {yes(t['throughput_ratio']['met'])})
verify + unpack:                 {s['verify_unpack_s']:.2f} s; load {s['load_s']:.2f} s; smoke test {s['smoke_test_s']:.2f} s
download start -> active:        {s['download_to_active_s']:.2f} s (desired set -> download {after_desired['desired_to_download_s']:.2f} s, -> active {after_desired['desired_to_active_s']:.2f} s)
CPU during the download:         agent {obs['cpu']['download']['agent_s']} s, fleet server {obs['cpu']['download']['server_s']} s (verify + unpack: agent {obs['cpu']['verify_unpack']['agent_s']} s)
RSS baseline {obs['baseline_rss_mib']:.1f} MiB; peak growth during download + verify + unpack {growth:.1f} MiB (VmHWM {obs['hwm_download_verify_unpack_mib']}) (target <= 64 MB: {yes(t['memory_growth_download_verify_unpack_mib']['met'])})
RSS growth during load + smoke test {m['load']['growth_mib']} MiB (the mapped weights; VmHWM {obs['hwm_load_mib']})
active -> first chunk {answer['active_to_first_chunk_ms']} ms, -> answer {answer['active_to_answer_ms']} ms ({answer['prompt_tokens']}-token prompt, engine ttft {answer['engine_ttft_ms']} ms; answered by {answer['answered_by']}); the same ask again: {answer['again']['ask_to_answer_ms']} ms (ttft {answer['again']['engine_ttft_ms']} ms)
result: {result_path}""")
EOF
