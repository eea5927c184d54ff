#!/usr/bin/env bash
# Removes what install.sh installed. The data (/var/lib/edgellm: models, manuals, query log, fleet credential) and
# the edgellm user stay unless --purge.
#   uninstall.sh [--root DIR] [--purge]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"
root="" purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    --purge) purge=1; shift ;;
    *) echo "uninstall.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -f "$root/lib/systemd/system/edgellm-agent.service" ] && edgellm_systemctl_disable "$root"
rm -rf "$root/opt/edgellm" "$root/etc/edgellm" "$root/etc/systemd/system/edgellm-agent.service.d"
rm -f "$root/lib/systemd/system/edgellm-agent.service"
[ -L "$root/usr/bin/edgellm" ] && rm -f "$root/usr/bin/edgellm"
edgellm_systemd_running "$root" && systemctl daemon-reload
if [ "$purge" -eq 1 ]; then
  rm -rf "$root/var/lib/edgellm"
  edgellm_remove_user "$root"
  echo "edgellm removed with its data and user."
else
  echo "edgellm removed; data kept in ${root:-/}var/lib/edgellm (uninstall.sh --purge removes it and the edgellm user)."
fi
