# Shared by install.sh, uninstall.sh and the .deb's maintainer scripts (build-deb.sh inlines it into them).
# Every function takes the target root as $1: "" is this machine, a folder is a scratch root (tests, image builds,
# dpkg --root, where dpkg sets $DPKG_ROOT). Nothing here touches the host when the root is not "".
# Every function is idempotent: running it again changes nothing.

EDGELLM_USER=edgellm
EDGELLM_HOME=/var/lib/edgellm

# The prefix arguments of useradd/usermod/userdel for a root (shadow >= 4.9 edits ROOT/etc/passwd directly, no chroot).
edgellm_prefix_args() {
  if [ -n "$1" ]; then printf '%s\n' "--prefix" "$1"; fi
}

edgellm_user_exists() {
  grep -q "^${EDGELLM_USER}:" "$1/etc/passwd" 2>/dev/null
}

# The numeric uid/gid of the edgellm user in the root (chown by name would ask the host's user database).
edgellm_ids() {
  awk -F: -v u="$EDGELLM_USER" '$1 == u { print $3 ":" $4 }' "$1/etc/passwd"
}

# Creates the system user and its group, and adds it to the device groups that exist (gpio, i2c, spi, video, render):
# the unit's DeviceAllow= list lets the service open those nodes, the groups give it the file permission.
edgellm_ensure_user() {
  root="$1"
  if ! edgellm_user_exists "$root"; then
    # shellcheck disable=SC2046 # the prefix arguments are two words or none
    useradd $(edgellm_prefix_args "$root") --system --user-group --home-dir "$EDGELLM_HOME" --no-create-home \
      --shell /usr/sbin/nologin --comment "EdgeLLM agent" "$EDGELLM_USER"
  fi
  for group in gpio i2c spi video render; do
    line=$(grep "^${group}:" "$root/etc/group" 2>/dev/null || true)
    [ -n "$line" ] || continue
    case ",$(printf '%s' "$line" | cut -d: -f4)," in
      *",${EDGELLM_USER},"*) ;;
      *) usermod $(edgellm_prefix_args "$root") --append --groups "$group" "$EDGELLM_USER" ;;
    esac
  done
}

# The data directory: owned by the agent's user, closed to others (manuals, query log and credentials live there).
edgellm_ensure_data_dir() {
  root="$1"
  mkdir -p "$root$EDGELLM_HOME"
  ids=$(edgellm_ids "$root")
  [ "$(stat -c '%u:%g' "$root$EDGELLM_HOME")" = "$ids" ] || chown "$ids" "$root$EDGELLM_HOME"
  [ "$(stat -c '%a' "$root$EDGELLM_HOME")" = "750" ] || chmod 0750 "$root$EDGELLM_HOME"
}

edgellm_remove_user() {
  root="$1"
  if edgellm_user_exists "$root"; then
    userdel $(edgellm_prefix_args "$root") "$EDGELLM_USER"
  fi
  if grep -q "^${EDGELLM_USER}:" "$root/etc/group" 2>/dev/null; then
    groupdel $(edgellm_prefix_args "$root") "$EDGELLM_USER"
  fi
}

# systemctl for the root: offline (--root) for a folder, the running manager only when systemd runs this machine.
edgellm_systemd_running() {
  [ -z "$1" ] && [ -d /run/systemd/system ]
}

edgellm_systemctl_enable() {
  root="$1"
  if [ -n "$root" ]; then
    systemctl --root="$root" --quiet enable edgellm-agent.service
  elif edgellm_systemd_running ""; then
    systemctl daemon-reload
    systemctl --quiet enable edgellm-agent.service
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl --quiet enable edgellm-agent.service
  fi
}

edgellm_systemctl_disable() {
  root="$1"
  if edgellm_systemd_running "$root"; then
    systemctl --quiet stop edgellm-agent.service || true
  fi
  if [ -n "$root" ]; then
    systemctl --root="$root" --quiet disable edgellm-agent.service 2>/dev/null || true
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl --quiet disable edgellm-agent.service 2>/dev/null || true
  fi
}
