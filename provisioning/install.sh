#!/usr/bin/env bash
# Installs the agent on a device without the .deb (same layout as the package). Safe to run again: unchanged files
# are left alone and an existing /etc/edgellm/agent.json is never overwritten (a different template goes to
# agent.json.new). docs/provisioning.md describes every option.
#   install.sh [--publish-dir DIR] [--config FILE] [--model-memory-mb N] [--model-disk-mb N]
#              [--enroll-token T --server URL [--device-id ID]] [--root DIR [--rid RID]] [--no-enable]
# --root installs into a folder (a mounted SD-card image, a test's scratch root) without touching this machine; with
# it, --rid names the target's architecture when it is not this machine's (an arm64 image prepared on x86-64).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

case "$(uname -m)" in
  aarch64|arm64) rid=linux-arm64 ;;
  x86_64|amd64) rid=linux-x64 ;;
  armv7l|armv8l) rid=linux-arm ;;
  *) echo "install.sh: unsupported architecture '$(uname -m)'" >&2; exit 2 ;;
esac
root="" publish="$(dirname "$here")/out/publish/$rid" config="$here/config/field-gateway.json"
target_rid="" model_mb=0 disk_mb=0 token="" server="" device_id="" enable=1
while [ $# -gt 0 ]; do
  case "$1" in
    --publish-dir) publish="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --model-memory-mb) model_mb="$2"; shift 2 ;;
    --model-disk-mb) disk_mb="$2"; shift 2 ;;
    --enroll-token) token="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    --device-id) device_id="$2"; shift 2 ;;
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    --rid) target_rid="$2"; shift 2 ;;
    --no-enable) enable=0; shift ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -n "$target_rid" ]; then
  [ -n "$root" ] || { echo "install.sh: --rid only goes with --root (this machine is $rid)" >&2; exit 2; }
  rid="$target_rid"
fi
[ -z "$token" ] || [ -n "$server" ] || { echo "install.sh: --enroll-token needs --server URL" >&2; exit 2; }
[ -x "$publish/edgellm" ] || { echo "install.sh: '$publish/edgellm' is missing: make publish RID=$rid (or --publish-dir)" >&2; exit 2; }
grep -q "\"name\": \"\\.NETCoreApp,Version=v[0-9.]*/$rid\"" "$publish/edgellm.deps.json" \
  || { echo "install.sh: '$publish' is not a publish for $rid (this machine: $(uname -m))" >&2; exit 2; }
[ -f "$config" ] || { echo "install.sh: --config '$config' does not exist" >&2; exit 2; }

# Memory: the model's need plus 768 MiB for the runtime, the KV cache, SQLite and the manual index; the unit gets
# that as MemoryMax= so a leak or an oversized model is stopped by the kernel, not by the board freezing.
mem_total_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
memory_max_mb=0
if [ "$model_mb" -gt 0 ]; then
  memory_max_mb=$(( model_mb + 768 ))
  if [ "$memory_max_mb" -gt "$mem_total_mb" ]; then
    echo "install.sh: the model needs ${model_mb} MiB (+768 MiB for the agent) but this machine has ${mem_total_mb} MiB: choose a smaller model" >&2
    exit 3
  fi
fi
# Disk: the publish folder plus the model twice (the active slot and a staged update).
mkdir -p "$root/var/lib" "$root/opt"
need_disk_mb=$(( $(du -sm "$publish" | cut -f1) + 2 * disk_mb ))
free_disk_mb=$(df -Pm "$root/var/lib" | awk 'NR == 2 { print $4 }')
if [ "$need_disk_mb" -gt "$free_disk_mb" ]; then
  echo "install.sh: needs ${need_disk_mb} MiB on $(df -P "$root/var/lib" | awk 'NR == 2 { print $6 }') but ${free_disk_mb} MiB are free" >&2
  exit 3
fi

changed=0
# put MODE SOURCE DEST: copies only when the content or the mode differs.
put() {
  if [ -f "$3" ] && cmp -s "$2" "$3"; then
    [ "$(stat -c '%a' "$3")" = "${1#0}" ] || { chmod "$1" "$3"; changed=1; }
  else
    install -D -m "$1" "$2" "$3"; changed=1
  fi
}

edgellm_ensure_user "$root"
edgellm_ensure_data_dir "$root"

# The publish folder, mirrored into /opt/edgellm (files the new publish does not have are removed).
(cd "$publish" && find . -type f) | while read -r f; do
  mode=0644; [ -x "$publish/$f" ] && mode=0755
  put "$mode" "$publish/$f" "$root/opt/edgellm/${f#./}"
done
(cd "$root/opt/edgellm" && find . -type f ! -path './provisioning/*' ! -path './docs/*') | while read -r f; do
  [ -e "$publish/$f" ] || rm -f "$root/opt/edgellm/${f#./}"
done
put 0755 "$here/take-boot-token.sh" "$root/opt/edgellm/provisioning/take-boot-token.sh"
put 0755 "$here/uninstall.sh" "$root/opt/edgellm/provisioning/uninstall.sh"
put 0644 "$here/lib/common.sh" "$root/opt/edgellm/provisioning/lib/common.sh"
[ -f "$here/../docs/provisioning.md" ] && put 0644 "$here/../docs/provisioning.md" "$root/opt/edgellm/docs/provisioning.md"
put 0644 "$here/systemd/edgellm-agent.service" "$root/lib/systemd/system/edgellm-agent.service"
mkdir -p "$root/usr/bin"
[ "$(readlink "$root/usr/bin/edgellm" 2>/dev/null)" = /opt/edgellm/edgellm ] || ln -sfn /opt/edgellm/edgellm "$root/usr/bin/edgellm"

gid=$(edgellm_ids "$root" | cut -d: -f2)
mkdir -p "$root/etc/edgellm"
if [ ! -f "$root/etc/edgellm/agent.json" ]; then
  install -m 0640 -g "$gid" "$config" "$root/etc/edgellm/agent.json"
elif ! cmp -s "$config" "$root/etc/edgellm/agent.json"; then
  install -m 0640 -g "$gid" "$config" "$root/etc/edgellm/agent.json.new"
  echo "install.sh: /etc/edgellm/agent.json exists and differs from $config: kept; the template is agent.json.new"
fi

dropin="$root/etc/systemd/system/edgellm-agent.service.d/memory.conf"
if [ "$memory_max_mb" -gt 0 ]; then
  tmp=$(mktemp)
  printf '# Written by install.sh: the model needs %s MiB, plus 768 MiB for the agent.\n[Service]\nMemoryMax=%sM\n' "$model_mb" "$memory_max_mb" > "$tmp"
  put 0644 "$tmp" "$dropin"
  rm -f "$tmp"
fi

if [ -n "$token" ] && [ ! -e "$root/var/lib/edgellm/fleet.json" ]; then
  tmp=$(mktemp)
  if [ -n "$device_id" ]; then
    printf '{"server": "%s", "token": "%s", "device_id": "%s"}\n' "$server" "$token" "$device_id" > "$tmp"
  else
    printf '{"server": "%s", "token": "%s"}\n' "$server" "$token" > "$tmp"
  fi
  put 0600 "$tmp" "$root/var/lib/edgellm/enroll.json"
  chown "$(edgellm_ids "$root")" "$root/var/lib/edgellm/enroll.json"
  rm -f "$tmp"
fi

if [ "$enable" -eq 1 ]; then
  edgellm_systemctl_enable "$root"
  if edgellm_systemd_running "$root"; then
    systemctl restart edgellm-agent.service
  fi
fi

echo "edgellm installed in ${root:-/}opt/edgellm (config ${root:-/}etc/edgellm/agent.json, data ${root:-/}var/lib/edgellm)."
echo "Next steps:"
echo "  edgellm model install … or copy a model folder to /var/lib/edgellm/models and point Agent:Model at it"
echo "  edgellm manuals add /path/to/manuals --data-dir /var/lib/edgellm   (as the edgellm user)"
echo "  systemctl status edgellm-agent; journalctl -u edgellm-agent -f"
if [ -n "$target_rid" ]; then
  [ -n "$root" ] || { echo "install.sh: --rid only goes with --root (this machine is $rid)" >&2; exit 2; }
  rid="$target_rid"
fi
[ -z "$token" ] || echo "  the agent enrolls with $server at its next start (token file /var/lib/edgellm/enroll.json)"
