#!/usr/bin/env bash
# scripts/debian-source.sh SRCPKG[=VERSION] DESTDIR - unpack a Debian source package.
#
# Real libraries no one here wrote come from their Debian source packages,
# never from copies in this repository. This script:
#   1. adds a deb-src entry for the sources apt already uses
#      (/etc/apt/sources.list.d/uffdbox-src.sources) if none exists, and says so;
#   2. runs `apt-get update` once after adding it;
#   3. installs dpkg-dev (for `apt-get source`) if missing;
#   4. unpacks SRCPKG into DESTDIR/SRCPKG-VERSION (skipped when already there)
#      and prints that directory's path on stdout (the last line).
# As root only: it changes the system's apt configuration.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SRCPKG[=VERSION] DESTDIR" >&2; exit 2; }
spec=$1     # what apt-get source is asked for (a version may be pinned)
pkg=${1%%=*}
dest=$(mkdir -p "$2" && cd "$2" && pwd) # absolute: used after the cd below
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "debian-source.sh: needs root to add a deb-src entry and install dpkg-dev" >&2
  exit 1
fi
# apt and dpkg take locks; several builds may call this at once.
apt_opts=(-o DPkg::Lock::Timeout=600)
list=/etc/apt/sources.list.d/uffdbox-src.sources
have_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
if ! have_src; then
  echo "debian-source.sh: adding deb-src entries to $list (the same mirrors as the deb entries)" >&2
  tmp=$(mktemp)
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the same stanzas with Types: deb-src.
    sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$tmp"
  else
    grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null |
      awk '{ $1 = ""; print "Types: deb-src\nURIs: " $2 "\nSuites: " $3 "\nComponents: main\n" }' >"$tmp"
  fi
  [ -s "$tmp" ] || { echo "debian-source.sh: no deb entry to derive a deb-src entry from" >&2; exit 1; }
  install -m 0644 "$tmp" "$list"
  rm -f "$tmp"
  # Concurrent updates wait for each other.
  flock /var/lib/apt/lists/uffdbox-update.lock apt-get "${apt_opts[@]}" update -qq >/dev/null
elif ! compgen -G '/var/lib/apt/lists/*Sources' >/dev/null; then
  flock /var/lib/apt/lists/uffdbox-update.lock apt-get "${apt_opts[@]}" update -qq >/dev/null
fi
"$here/deps.sh" dpkg-dev
mkdir -p "$dest"
cd "$dest"
existing=$(ls -d "$pkg"-[0-9]*/ 2>/dev/null | head -n 1 || true)
if [ -z "$existing" ]; then
  echo "debian-source.sh: apt-get source $spec into $dest" >&2
  apt-get "${apt_opts[@]}" source -qq "$spec" >/dev/null 2>"$dest/$pkg.source.log" ||
    { cat "$dest/$pkg.source.log" >&2; exit 1; }
  existing=$(ls -d "$pkg"-[0-9]*/ | head -n 1)
fi
echo "$dest/${existing%/}"
