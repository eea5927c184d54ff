#!/bin/sh
# ExecStartPre=+ of edgellm-agent.service (runs privileged, before the sandboxed enroll step): moves a one-time
# enrollment token that was dropped on the boot partition (FAT, readable by anyone with the SD card) into the data
# directory, owned by edgellm and mode 0600, where `edgellm enroll --from-file --delete-after` uses and deletes it.
# Never fails: the agent must start whatever happens here. EDGELLM_ROOT points everything at a scratch root (tests).
root="${EDGELLM_ROOT:-}"
data="$root/var/lib/edgellm"
for token in "$root/boot/firmware/edgellm-enroll.json" "$root/boot/edgellm-enroll.json"; do
  [ -f "$token" ] || continue
  if [ ! -e "$data/fleet.json" ] && [ ! -e "$data/enroll.json" ]; then
    ids=$(awk -F: '$1 == "edgellm" { print $3 ":" $4 }' "$root/etc/passwd")
    if [ -n "$ids" ] && cp "$token" "$data/enroll.json.tmp" && chown "$ids" "$data/enroll.json.tmp" && chmod 0600 "$data/enroll.json.tmp"; then
      mv "$data/enroll.json.tmp" "$data/enroll.json"
      echo "edgellm: enrollment token moved from $token to $data/enroll.json"
    else
      rm -f "$data/enroll.json.tmp"
      echo "edgellm: warning: cannot move the enrollment token $token into $data" >&2
      exit 0
    fi
  fi
  # Enrolled already, or moved: the copy on the boot partition is a secret nobody needs any more.
  rm -f "$token"
done
exit 0
