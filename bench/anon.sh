#!/usr/bin/env bash
# De-identification throughput, sonogate beside GDCM's gdcmanon and DCMTK's dcmodify, on the same
# corpora in one run (issue target: >= 2x gdcmanon files/s without pixel cleaning).
#
# Usage: bench/anon.sh            (REPS=3, corpora "large small" from $WORK, generated if missing)
#        CORPORA=small REPS=1 bench/anon.sh
#        PASSES=clean bench/anon.sh        (only the first pass)
# It drives ../shared/bench/run_peers.sh's anon section with sonogate in its gateway slot, twice:
#
#   pass "clean":   sonogate anonymize --profile bench-clean ...  beside gdcmanon-dumb, gdcmanon-basic,
#                   dcmodify. Profile: the Basic Profile with retain_long_modified_dates and clean_pixel.
#                   The corpus marks about a quarter of its instances BurnedInAnnotation YES; their native
#                   frames are masked outside the ultrasound regions, so every instance is written, as
#                   gdcmanon writes every file. The other instances' pixel data is copied by the kernel
#                   (copy_file_range), never decoded. More work than gdcmanon does, never less.
#   pass "noclean": sonogate anonymize --profile bench-noclean ... beside gdcmanon-dumb and -basic.
#                   Profile: Basic Profile + retain_long_modified_dates, no pixel cleaning (the issue
#                   target's wording). The BurnedInAnnotation YES quarter is QUARANTINED (not written;
#                   the harness prints "WARN: gateway wrote N of M files"): less work than gdcmanon,
#                   which writes those files with their burned-in text.
#
# The host is shared: before each pass it waits (QUIET_WAIT_S=600 s budget in all) for a 1-minute load
# average below QUIET_LOAD=1.0, and it keeps a 10 s record of the load average beside the results
# ($WORK/anon-loadavg-<stamp>.txt). Results: $WORK/results-<stamp>.tsv and $WORK/summary-<stamp>.md
# per pass (harness format), printed at the end of each pass.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
HARNESS=${HARNESS:-$(cd "$REPO/../shared/bench" && pwd)}
export WORK=${WORK:-/tmp/sonobench}
export REPS=${REPS:-3}
export PY=${PY:-/usr/bin/python3}
PASSES=${PASSES:-clean noclean}
QUIET_LOAD=${QUIET_LOAD:-1.0} QUIET_WAIT_S=${QUIET_WAIT_S:-600}
mkdir -p "$WORK"
BIN="$WORK/sonogate-anon"
(cd "$REPO" && go build -o "$BIN" ./cmd/sonogate)
head -c 32 /dev/urandom | base64 > "$WORK/anon-bench.key"
cat > "$WORK/anon-bench.yaml" <<YAML
profiles:
  bench-clean:
    key_file: $WORK/anon-bench.key
    options: [retain_long_modified_dates, clean_pixel]
  bench-noclean:
    key_file: $WORK/anon-bench.key
    options: [retain_long_modified_dates]
YAML

LOADLOG="$WORK/anon-loadavg-$(date -u +%Y%m%dT%H%M%SZ).txt"
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  echo "# UTC time, loadavg 1/5/15 min, runnable/total tasks"
  while :; do echo "$(date -u +%H:%M:%S) $(cut -d' ' -f1-4 /proc/loadavg)"; sleep 10 & s=$!; wait "$s"; done ) >"$LOADLOG" &
LOADMON=$!
trap 'kill "$LOADMON" 2>/dev/null || true' EXIT

wait_quiet() {
  local t0=$SECONDS load
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v q="$QUIET_LOAD" 'BEGIN {exit !(l < q)}'; then
      echo "load $load < $QUIET_LOAD: go" >&2; break
    fi
    if (( SECONDS - t0 >= QUIET_WAIT_S )); then
      echo "WARNING: load $load and the waiting budget is spent; measuring anyway" >&2; break
    fi
    echo "load $load >= $QUIET_LOAD; waiting" >&2
    sleep 15
  done
  QUIET_WAIT_S=$(( QUIET_WAIT_S - (SECONDS - t0) ))
  (( QUIET_WAIT_S > 0 )) || QUIET_WAIT_S=0
}

for pass in $PASSES; do
  case "$pass" in
    clean)   peers="gdcmanon-dumb gdcmanon-basic dcmodify" ;;
    noclean) peers="gdcmanon-dumb gdcmanon-basic" ;;
    *) echo "unknown pass $pass" >&2; exit 2 ;;
  esac
  wait_quiet
  echo "### pass $pass (profile bench-$pass), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  GATEWAY_ANON_CMD="$BIN anonymize --profile bench-$pass --config $WORK/anon-bench.yaml \"\$ANON_IN\" \"\$ANON_OUT\" >/dev/null 2>>$WORK/anon-gateway.log || true" \
  GATEWAY_SECTIONS=anon GATEWAY_NAME="sonogate-$pass" PEERS_ANON="$peers" \
    "$HARNESS/run_peers.sh" anon
done
echo "load record: $LOADLOG" >&2
