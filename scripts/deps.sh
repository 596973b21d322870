#!/usr/bin/env bash
# scripts/deps.sh PKG... - make sure these Debian packages are installed.
# As root: installs the missing ones with apt-get (one `apt-get update` first).
# Otherwise: names them and the command to run, and fails.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "uffdbox needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "uffdbox: installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
flock /var/lib/apt/lists/uffdbox-update.lock apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
