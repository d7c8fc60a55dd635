#!/usr/bin/env bash
# "Delivered to Orthanc per second": storescu -> sonogate -> Orthanc vs storescu -> Orthanc.
#
# Usage: bench/relay.sh            (normally called by bench/run.sh, which sets the variables)
# env:   HARNESS (the peer harness dir, ../shared/bench) WORK RESULTS REPS CORPORA ("small large")
#        SONOGATE_BIN  DICOM_PORT HTTP_PORT (Orthanc)  RELAY_GW_DICOM_PORT RELAY_GW_HTTP_PORT (sonogate)
#        RELAY_TIMEOUT_S=600 (per run)
#        RELAY_CONCURRENCY (optional: destination concurrency, i.e. parallel associations to Orthanc;
#                           unset = sonogate's default for a DIMSE destination, 2)
#
# Per corpus, repetition and system (interleaved, every server fresh and empty):
#   orthanc : Orthanc alone; t0 = storescu start, t1 = first GET /statistics with
#             CountInstances = N (for a direct send this is storescu's own end, +<=50 ms polling).
#   gateway : Orthanc plus sonogate, configured with one DIMSE destination (that Orthanc) and one
#             rule that matches everything; storescu sends to sonogate; t1 = Orthanc holds all N.
# Rates: N / (t1 - t0) files/s and bytes / (t1 - t0) MB/s. Recorded in $RESULTS, section "relay".
set -euo pipefail
: "${HARNESS:?}" "${SONOGATE_BIN:?}" "${RELAY_GW_DICOM_PORT:?}" "${RELAY_GW_HTTP_PORT:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR=$HARNESS
# shellcheck source=/dev/null
source "$HARNESS/lib.sh"

CORPORA=${CORPORA:-small large}
RELAY_TIMEOUT_S=${RELAY_TIMEOUT_S:-600}
ORTHANC_DICOM_PORT=$DICOM_PORT
ORTHANC_HTTP_PORT=$HTTP_PORT

# Orthanc on its own ports (lib.sh reads DICOM_PORT / HTTP_PORT when called).
relay_orthanc_start() {  # DIR
  DICOM_PORT=$ORTHANC_DICOM_PORT HTTP_PORT=$ORTHANC_HTTP_PORT
  orthanc_config "$1" sqlite
  orthanc_start "$1"
}

relay_gateway_start() {  # DIR
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/relay.yaml" <<EOF
# sonogate relay configuration used by bench/relay.sh
destinations:
  - name: orthanc
    dimse: {ae_title: ORTHANC, host: $HOST, port: $ORTHANC_DICOM_PORT}${RELAY_CONCURRENCY:+
    concurrency: $RELAY_CONCURRENCY}
rules:
  - name: everything
    match: {}
    send: [orthanc]
EOF
  DICOM_PORT=$RELAY_GW_DICOM_PORT HTTP_PORT=$RELAY_GW_HTTP_PORT
  # shellcheck disable=SC2016
  GATEWAY_CMD='"$SONOGATE_BIN" serve --config "$GW_WORK_DIR/relay.yaml" --ae-title "$GW_AET" --dimse-listen "$GW_HOST:$GW_DICOM_PORT" --http-listen "$GW_HOST:$GW_HTTP_PORT" --data-dir "$GW_STORAGE_DIR" --log-format text'
  export SONOGATE_BIN
  GATEWAY_READY_URL="http://$HOST:$RELAY_GW_HTTP_PORT/readyz" gateway_start "$dir"
}

proc_cpu_s() {  # user+sys CPU seconds consumed so far by PID
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

queue_summary() {  # prints "done=N dead=N pending=N inflight=N" from sonogate's GET /api/queue
  curl -sf "http://$HOST:$RELAY_GW_HTTP_PORT/api/queue?limit=1" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
c = {}
for dest in d.get("destinations", []):
    for k, v in dest.get("counts", {}).items():
        c[k] = c.get(k, 0) + v
print(" ".join("%s=%d" % (k, c.get(k, 0)) for k in ("done", "dead", "pending", "inflight")))' 2>/dev/null || echo "queue=unavailable"
}

one_relay() {  # SYSTEM CORPUS REP
  local sys=$1 cname=$2 rep=$3
  local corpus="$WORK/corpus_$cname" odir="$WORK/srv_relay_orthanc" gdir="$WORK/srv_relay_gateway"
  local n bytes target aet port out
  n=$(corpus_files "$corpus"); bytes=$(corpus_bytes "$corpus")
  rm -rf "$odir" "$gdir"; mkdir -p "$odir"
  sync
  relay_orthanc_start "$odir"
  local opid=$ORTHANC_PID gpid=""
  if [ "$sys" = gateway ]; then
    relay_gateway_start "$gdir"; gpid=$GW_PID
    aet=$GATEWAY_AET port=$RELAY_GW_DICOM_PORT
  else
    aet=ORTHANC port=$ORTHANC_DICOM_PORT
  fi
  local ocpu0 gcpu0=0; ocpu0=$(proc_cpu_s "$opid"); [ -n "$gpid" ] && gcpu0=$(proc_cpu_s "$gpid")
  local cmd="TCP_NODELAY=1 storescu -aec $aet $HOST $port +sd +r +sp '*.dcm' $corpus"
  out=$("$PY" "$HERE/relay_wait.py" --url "http://$HOST:$ORTHANC_HTTP_PORT/statistics" --count "$n" \
          --timeout-s "$RELAY_TIMEOUT_S" -- env TCP_NODELAY=1 storescu -aec "$aet" "$HOST" "$port" \
          +sd +r +sp '*.dcm' "$corpus")
  # shellcheck disable=SC2086
  set -- $out
  local client_s=$1 deliv_s=$2 rc=$3 got=$4 q=""
  local ocpu1 gcpu1=0; ocpu1=$(proc_cpu_s "$opid"); [ -n "$gpid" ] && gcpu1=$(proc_cpu_s "$gpid")
  record relay "relay $cname: Orthanc CPU s/GB" "$sys" "$rep" "$(calc "($ocpu1 - $ocpu0) / ($bytes / 1e9)")" cpu-s/GB "/proc/PID/stat utime+stime delta of Orthanc over the run"
  [ "$rc" = 0 ] || log "WARN: storescu rc=$rc ($sys $cname rep $rep)"
  if [ -n "$gpid" ]; then
    q=$(queue_summary)
    log "  sonogate queue after run: $q"
    record relay "relay $cname: sonogate CPU s/GB (receive + store + send)" gateway "$rep" "$(calc "($gcpu1 - $gcpu0) / ($bytes / 1e9)")" cpu-s/GB \
      "/proc/PID/stat utime+stime delta of sonogate over the run"
    record relay "relay $cname: gateway peak RSS while relaying" gateway "$rep" "$(calc "$(peak_rss_kb "$gpid") / 1024")" MiB \
      "VmHWM of sonogate after all instances reached Orthanc"
  fi
  record relay "relay $cname: Orthanc peak RSS" "$sys" "$rep" "$(calc "$(peak_rss_kb "$opid") / 1024")" MiB "VmHWM of Orthanc after the run"
  [ -n "$gpid" ] && gateway_stop
  orthanc_stop
  if [ "$deliv_s" = "-1.0000" ]; then
    log "WARN: $sys $cname rep $rep: Orthanc reached only $got of $n instances in ${RELAY_TIMEOUT_S}s"
    rm -rf "$odir" "$gdir"
    return 0
  fi
  local how="storescu -> Orthanc"
  [ "$sys" = gateway ] && how="storescu -> sonogate -> Orthanc (rule: everything -> one DIMSE destination, concurrency ${RELAY_CONCURRENCY:-default})"
  local mcmd="$how; $cmd; t1 = first GET /statistics with CountInstances=$n (bench/relay_wait.py, 50 ms polling)"
  record relay "delivered to Orthanc $cname files/s" "$sys" "$rep" "$(calc "$n / $deliv_s")" files/s "$mcmd"
  record relay "delivered to Orthanc $cname MB/s" "$sys" "$rep" "$(calc "$bytes / $deliv_s / 1e6")" MB/s "$mcmd"
  record relay "relay $cname: sender (storescu) wall files/s" "$sys" "$rep" "$(calc "$n / $client_s")" files/s "$cmd (storescu exit)"
  if [ "$sys" = gateway ]; then
    record relay "relay $cname: lag last ack to sender -> last instance in Orthanc" gateway "$rep" "$(calc "$deliv_s - $client_s")" s "t1 - storescu exit"
  fi
  rm -rf "$odir" "$gdir"
}

for cname in $CORPORA; do ensure_corpus "$cname" >/dev/null; done
for cname in $CORPORA; do
  for ((rep = 1; rep <= REPS; rep++)); do
    for sys in orthanc gateway; do
      log "relay $cname rep $rep $sys"
      one_relay "$sys" "$cname" "$rep"
    done
  done
done
