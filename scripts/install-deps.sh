#!/usr/bin/env bash
# install-deps.sh: install the system tools sonogate's tests use (Debian 12).
#
#   bash scripts/install-deps.sh          # install what is missing, else do nothing
#   FORCE=1 bash scripts/install-deps.sh  # run apt-get install even if all is present
#
# Tools: DCMTK (storescu, storescp, echoscu, dcmdump, dsrdump), Orthanc and its
# DICOMweb plugin, PostgreSQL (server binaries and psql), Chromium, curl.
# Packages are installed with their services prevented from starting: the
# tests start their own Orthanc/PostgreSQL on free loopback ports.
set -euo pipefail

PACKAGES=(dcmtk dicom3tools orthanc orthanc-dicomweb postgresql postgresql-client chromium curl ca-certificates)

log() { printf 'install-deps: %s\n' "$*" >&2; }

have_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

missing=()
for t in storescu storescp echoscu dcmdump dsrdump dciodvfy; do
  have_cmd "$t" || missing+=("$t")
done
[ -x /usr/sbin/Orthanc ] || missing+=(Orthanc)
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(libOrthancDicomWeb.so)
have_cmd psql || missing+=(psql)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(pg_ctl)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(initdb)
have_cmd chromium || missing+=(chromium)
have_cmd curl || missing+=(curl)

if [ ${#missing[@]} -eq 0 ] && [ "${FORCE:-0}" != 1 ]; then
  log "all tools present"
  exit 0
fi
log "missing: ${missing[*]:-none (FORCE=1)}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "not root and no sudo: install ${PACKAGES[*]} by hand"; exit 1; }
  SUDO=(sudo)
fi

# Keep the packages' services from starting (policy-rc.d, as in Debian
# containers), unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  added_policy=1
fi
remove_policy() { if [ "$added_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${SUDO[@]}" apt-get "${apt_opts[@]}" update -q
"${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}"

# If a service started anyway (no policy honoured), stop it: it would hold
# the default ports 4242/8042/5432 and is never what the tests talk to.
for svc in orthanc postgresql; do
  if [ -x "/etc/init.d/$svc" ] && "${SUDO[@]}" /etc/init.d/"$svc" status >/dev/null 2>&1; then
    log "stopping the $svc service the package started"
    "${SUDO[@]}" /etc/init.d/"$svc" stop >/dev/null 2>&1 || true
  fi
done

for t in storescu storescp echoscu dcmdump dsrdump dciodvfy psql chromium curl; do
  have_cmd "$t" || { log "still missing after install: $t"; exit 1; }
done
[ -x /usr/sbin/Orthanc ] || { log "still missing after install: /usr/sbin/Orthanc"; exit 1; }
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || { log "still missing: DICOMweb plugin"; exit 1; }
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || { log "still missing: pg_ctl"; exit 1; }
log "done"
