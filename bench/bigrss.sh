#!/usr/bin/env bash
# Peak RSS (VmHWM) of the server while it receives ONE large US multi-frame instance.
#
# Usage: bench/bigrss.sh [SYSTEM...]   (default: gateway storescp orthanc; normally via bench/run.sh)
# env:   HARNESS WORK RESULTS REPS GATEWAY_CMD (sonogate in the harness slot) DICOM_PORT HTTP_PORT
#        HUGE_FRAMES=230 (640x480 RGB frames: 230 -> 212 MB; the instance must stay >= 200 MB)
#
# The instance is made once by the harness generator:
#   gen_us_corpus.py --out $WORK/corpus_huge --studies 1 --instances 1 --frames $HUGE_FRAMES \
#     --single-frame-fraction 0 --seed 1 --quiet
# Per repetition and system: fresh empty server, VmHWM read before the send (start-up footprint),
# `TCP_NODELAY=1 storescu -aec AET 127.0.0.1 PORT FILE` under /usr/bin/time, VmHWM read after;
# while storescu runs, /proc/PID/status VmRSS is also sampled every 20 ms (its maximum is reported
# as a cross-check of VmHWM). Section "bigrss" in $RESULTS.
set -euo pipefail
: "${HARNESS:?}"
export BENCH_DIR=$HARNESS
# shellcheck source=/dev/null
source "$HARNESS/lib.sh"

SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(gateway storescp orthanc)
HUGE_FRAMES=${HUGE_FRAMES:-230}
HUGE_DIR="$WORK/corpus_huge"

ensure_huge() {
  local key="frames=$HUGE_FRAMES seed=1 $(md5sum <"$HARNESS/gen_us_corpus.py" | cut -c1-12)"
  if [ ! -s "$HUGE_DIR/manifest.json" ] || [ "$(cat "$HUGE_DIR/.genargs" 2>/dev/null)" != "$key" ]; then
    log "generating one ${HUGE_FRAMES}-frame US multi-frame instance in $HUGE_DIR"
    rm -rf "$HUGE_DIR"
    "$PY" "$HARNESS/gen_us_corpus.py" --out "$HUGE_DIR" --studies 1 --instances 1 --frames "$HUGE_FRAMES" \
      --single-frame-fraction 0 --seed 1 --quiet >&2 || die "huge instance generation failed"
    echo "$key" >"$HUGE_DIR/.genargs"
  fi
}

stored_count() {  # SYSTEM DIR
  case "$1" in
    storescp) find "$2/storage" -type f | wc -l ;;
    orthanc) curl -sf "http://$HOST:$HTTP_PORT/statistics" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['CountInstances'])" ;;
    gateway) find "$2/storage/objects/clinical" -type f -name '*.dcm' 2>/dev/null | wc -l ;;
  esac
}

ensure_huge
FILE=$(find "$HUGE_DIR" -name '*.dcm' | head -n1)
BYTES=$(stat -c %s "$FILE")
MB=$("$PY" -c "print('%.0f' % ($BYTES / 1e6))")
[ "$BYTES" -ge 200000000 ] || log "WARN: instance is only $MB MB (< 200 MB)"
for ((rep = 1; rep <= REPS; rep++)); do
  for sys in "${SYSTEMS[@]}"; do
    log "bigrss rep $rep $sys ($MB MB instance)"
    dir="$WORK/srv_bigrss_$sys"
    sync
    server_start "$sys" "$dir"
    hwm0=$(peak_rss_kb "$SRV_PID")
    samp="$WORK/tmp/rss_samples.$$"
    ( max=0; while kill -0 "$SRV_PID" 2>/dev/null; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$SRV_PID/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$max" ] && max=$v && echo "$max" >"$samp"
        [ -e "$samp.stop" ] && break
        sleep 0.02
      done ) &
    sampler=$!
    cmd="TCP_NODELAY=1 storescu -aec $SRV_AET $HOST $DICOM_PORT $FILE"
    timed t env TCP_NODELAY=1 storescu -aec "$SRV_AET" "$HOST" "$DICOM_PORT" "$FILE"
    touch "$samp.stop"; wait "$sampler" 2>/dev/null || true
    # shellcheck disable=SC2086
    set -- $t
    wall=$1 rc=$5
    hwm1=$(peak_rss_kb "$SRV_PID")
    smax=$(cat "$samp" 2>/dev/null || echo 0); rm -f "$samp" "$samp.stop"
    got=$(stored_count "$sys" "$dir")
    server_stop
    [ "$rc" = 0 ] || log "WARN: storescu rc=$rc ($sys rep $rep)"
    [ "$got" = 1 ] || log "WARN: $sys stored $got instances (expected 1)"
    label="C-STORE one $MB MB US MF instance"
    record bigrss "$label: server peak RSS (VmHWM)" "$sys" "$rep" "$(calc "$hwm1 / 1024")" MiB "$cmd; VmHWM of the server PID after the C-STORE-RSP"
    record bigrss "$label: server VmHWM before the send" "$sys" "$rep" "$(calc "$hwm0 / 1024")" MiB "VmHWM right after start-up + C-ECHO readiness probes"
    record bigrss "$label: max sampled VmRSS during the send" "$sys" "$rep" "$(calc "$smax / 1024")" MiB "/proc/PID/status VmRSS every 20 ms"
    record bigrss "$label: MB/s" "$sys" "$rep" "$(calc "$BYTES / $wall / 1e6")" MB/s "$cmd (/usr/bin/time %e)"
    rm -rf "$dir"
  done
done
