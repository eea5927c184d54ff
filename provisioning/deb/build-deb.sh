#!/usr/bin/env bash
# Builds the edgellm Debian package with dpkg-deb only: the publish folder of a RID (make publish RID=…) under
# /opt/edgellm, the systemd unit, /etc/edgellm/agent.json as a conffile, and maintainer scripts that create the
# edgellm user and /var/lib/edgellm. The scripts honour $DPKG_ROOT (dpkg --root … --force-script-chrootless).
#   build-deb.sh --rid linux-arm64 --publish-dir out/publish/linux-arm64 [--out out/deb] [--version 0.1.0]
#                [--config provisioning/config/field-gateway.json]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prov="$(dirname "$here")"
repo="$(dirname "$prov")"
rid="" publish="" out="$repo/out/deb" version="${EDGELLM_VERSION:-0.1.0}" config="$prov/config/field-gateway.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --rid) rid="$2"; shift 2 ;;
    --publish-dir) publish="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    *) echo "build-deb.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$rid" in
  linux-arm64) arch=arm64 ;;
  linux-x64) arch=amd64 ;;
  linux-arm) arch=armhf ;;
  *) echo "build-deb.sh: --rid must be linux-arm64, linux-x64 or linux-arm (got '$rid')" >&2; exit 2 ;;
esac
[ -x "$publish/edgellm" ] || { echo "build-deb.sh: '$publish/edgellm' is missing: run make publish RID=$rid" >&2; exit 2; }
grep -q "\"name\": \"\\.NETCoreApp,Version=v[0-9.]*/$rid\"" "$publish/edgellm.deps.json" \
  || { echo "build-deb.sh: '$publish' is not a publish for $rid" >&2; exit 2; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/edgellm"
mkdir -p "$pkg/DEBIAN" "$pkg/opt/edgellm/provisioning" "$pkg/opt/edgellm/docs" "$pkg/lib/systemd/system" "$pkg/etc/edgellm" "$pkg/usr/bin"
cp -a "$publish/." "$pkg/opt/edgellm/"
install -m 0755 "$prov/take-boot-token.sh" "$pkg/opt/edgellm/provisioning/take-boot-token.sh"
install -m 0644 "$repo/docs/provisioning.md" "$pkg/opt/edgellm/docs/provisioning.md"
install -m 0644 "$prov/systemd/edgellm-agent.service" "$pkg/lib/systemd/system/edgellm-agent.service"
install -m 0644 "$config" "$pkg/etc/edgellm/agent.json"
ln -s ../../opt/edgellm/edgellm "$pkg/usr/bin/edgellm"
# Files 0644 and folders 0755 whatever the umask of the build; executables keep their x bits.
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f ! -perm -u+x -exec chmod 0644 {} +
find "$pkg" -type f -perm -u+x -exec chmod 0755 {} +

echo "/etc/edgellm/agent.json" > "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: edgellm
Version: $version
Architecture: $arch
Maintainer: EdgeLLMAgent maintainers <edgellm@example.invalid>
Installed-Size: $size
Depends: libc6, libgcc-s1, libstdc++6, libssl3 | libssl1.1, zlib1g, passwd
Section: misc
Priority: optional
Description: offline LLM agent for edge devices
 Answers operator and sensor questions over MQTT from the equipment's manuals
 and live sensor readings, with a local model on ONNX Runtime; syncs with a
 fleet server when a link exists. Runs as the systemd service edgellm-agent.
CONTROL
for script in postinst prerm postrm; do
  { echo "#!/bin/sh"; echo "set -e"; cat "$prov/lib/common.sh"; cat "$here/$script"; } > "$pkg/DEBIAN/$script"
  chmod 0755 "$pkg/DEBIAN/$script"
done

mkdir -p "$out"
deb="$out/edgellm_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >/dev/null
echo "$deb"
