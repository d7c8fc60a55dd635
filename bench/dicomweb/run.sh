#!/usr/bin/env bash
# sonogate vs Orthanc (DICOMweb plugin) in one run, same data, same machine.
#
# Usage: bench/dicomweb/run.sh [harness] [synthetic]     (default: both)
#   harness    ../shared/bench/dicomweb.sh orthanc gateway (sonogate in the gateway slot), REPS=1:
#              STOW-RS of the harness corpora (200 large US files ~500 MB + 2,000 small, one study per
#              request, curl keep-alive), QIDO-RS /studies latency over the 1,020 stored studies,
#              WADO-RS metadata / small-study latency and whole-study MB/s (large corpus).
#   synthetic  bench/dicomweb/dwgen: SYN_N (10,000) synthetic instances STOWed into a fresh sonogate
#              and a fresh Orthanc (files/s), QIDO-RS p50/p95 for a fixed query set on both; then
#              both servers get BIG_N - SYN_N more instances by STOW-RS (BIG_VIA=stow, the default)
#              and the QIDO set runs again on both; with BIG_VIA=catalog only sonogate's catalog is
#              filled to BIG_N with catalog.CommitInstance (rows only) and QIDO runs on sonogate alone.
# Environment: WORK=/tmp/sonodw  REPS=1  QIDO_N=50  SYN_N=10000  BIG_N=100000  BIG_VIA=stow
#   CORPUS_FROM=/tmp/sonobench   reuse (hard-link) harness corpora generated there, if present
# Every server is started here or by the harness (lib.sh), tracked by PID and stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${HARNESS:-$(cd "$REPO/../shared/bench" && pwd)}
export WORK=${WORK:-/tmp/sonodw} REPS=${REPS:-1} QIDO_N=${QIDO_N:-50} PY=${PY:-/usr/bin/python3}
SYN_N=${SYN_N:-10000} BIG_N=${BIG_N:-100000} BIG_VIA=${BIG_VIA:-stow}
STAGES=("$@"); [ ${#STAGES[@]} -gt 0 ] || STAGES=(harness synthetic)
mkdir -p "$WORK"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$WORK/dw-$STAMP"; mkdir -p "$OUT"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; true; }
trap cleanup EXIT
freeport() { "$PY" -c 'import socket,random
while True:
    p=random.randint(20000,30000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); s.close(); print(p); break
    except OSError: pass'; }

say "building sonogate and dwgen from $(git -C "$REPO" rev-parse --short HEAD)"
(cd "$REPO" && go build -o "$WORK/sonogate" ./cmd/sonogate && go build -o "$WORK/dwgen" ./bench/dicomweb/dwgen)
{ uname -a; nproc; free -m; uptime; } >"$OUT/machine.txt"

for st in "${STAGES[@]}"; do case "$st" in
harness)
  if [ -d "${CORPUS_FROM:-/tmp/sonobench}/corpus_large" ]; then
    for c in large small; do [ -e "$WORK/corpus_$c" ] || cp -al "${CORPUS_FROM:-/tmp/sonobench}/corpus_$c" "$WORK/corpus_$c"; done
  fi
  export DICOM_PORT=$(freeport) HTTP_PORT=$(freeport) SONOGATE_BIN="$WORK/sonogate"
  # shellcheck disable=SC2016
  export GATEWAY_CMD='"$SONOGATE_BIN" serve --ae-title "$GW_AET" --dimse-listen "$GW_HOST:$GW_DICOM_PORT" --http-listen "$GW_HOST:$GW_HTTP_PORT" --data-dir "$GW_STORAGE_DIR" --log-format text'
  export GATEWAY_AET=GATEWAY GATEWAY_NAME=sonogate GATEWAY_READY_URL="http://127.0.0.1:$HTTP_PORT/readyz"
  say "harness dicomweb.sh orthanc gateway (REPS=$REPS QIDO_N=$QIDO_N; ports $DICOM_PORT/$HTTP_PORT)"
  uptime >>"$OUT/load.txt"
  bash "$HARNESS/dicomweb.sh" orthanc gateway 2>&1 | tee "$OUT/harness.log" >&2
  cp "$WORK"/results-*.tsv "$OUT/" 2>/dev/null || true
  ls -t "$WORK"/results*.tsv 2>/dev/null | head -1 | xargs -r -I{} "$PY" "$HARNESS/summarize.py" {} --md >"$OUT/harness-summary.md" || true
  uptime >>"$OUT/load.txt"
  ;;
synthetic)
  SG_HTTP=$(freeport) SG_DICOM=$(freeport) OR_HTTP=$(freeport) OR_DICOM=$(freeport)
  SGD="$OUT/sonogate"; ORD="$OUT/orthanc"; mkdir -p "$SGD" "$ORD/storage"
  "$WORK/sonogate" serve --ae-title SONOGATE --dimse-listen "127.0.0.1:$SG_DICOM" --http-listen "127.0.0.1:$SG_HTTP" \
    --data-dir "$SGD" --log-format text >"$SGD/log" 2>&1 & SGPID=$!; PIDS+=("$SGPID")
  cat >"$ORD/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$ORD/storage", "IndexDirectory": "$ORD/storage", "HttpPort": $OR_HTTP,
  "DicomPort": $OR_DICOM, "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "OrthancExplorerEnabled": false,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "Host": "127.0.0.1:$OR_HTTP", "Ssl": false } }
JSON
  /usr/sbin/Orthanc "$ORD/orthanc.json" >"$ORD/log" 2>&1 & ORPID=$!; PIDS+=("$ORPID")
  for u in "http://127.0.0.1:$SG_HTTP/readyz" "http://127.0.0.1:$OR_HTTP/system"; do
    for _ in $(seq 60); do curl -sf -o /dev/null "$u" && break; sleep 0.5; done
  done
  SG="http://127.0.0.1:$SG_HTTP/dicom-web"; OR="http://127.0.0.1:$OR_HTTP/dicom-web"
  for sys in sonogate orthanc; do
    url=$SG; [ $sys = orthanc ] && url=$OR
    uptime >>"$OUT/load.txt"
    say "STOW-RS $SYN_N synthetic instances -> $sys"
    "$WORK/dwgen" stow -url "$url" -n "$SYN_N" -per-request 50 -conc 2 | tee "$OUT/stow-$sys.json" >&2
    uptime >>"$OUT/load.txt"
    say "QIDO-RS at $SYN_N instances on $sys"
    "$WORK/dwgen" qido -url "$url" -studies $((SYN_N / 10)) -n "$QIDO_N" | tee "$OUT/qido-$SYN_N-$sys.json" >&2
  done
  if [ "$BIG_VIA" = stow ]; then
    # Both servers to BIG_N by STOW-RS: the same data and the same path on both.
    for sys in sonogate orthanc; do
      url=$SG; [ $sys = orthanc ] && url=$OR
      uptime >>"$OUT/load.txt"
      say "STOW-RS $((BIG_N - SYN_N)) more synthetic instances -> $sys"
      "$WORK/dwgen" stow -url "$url" -from "$SYN_N" -n $((BIG_N - SYN_N)) -per-request 50 -conc 2 | tee "$OUT/stow-big-$sys.json" >&2
      uptime >>"$OUT/load.txt"
      say "QIDO-RS at $BIG_N instances on $sys"
      "$WORK/dwgen" qido -url "$url" -studies $((BIG_N / 10)) -n "$QIDO_N" | tee "$OUT/qido-$BIG_N-$sys.json" >&2
    done
    kill "$ORPID"; wait "$ORPID" 2>/dev/null || true
    kill "$SGPID"; wait "$SGPID" 2>/dev/null || true
  else
    kill "$ORPID"; wait "$ORPID" 2>/dev/null || true
    kill "$SGPID"; wait "$SGPID" 2>/dev/null || true
    say "filling sonogate's catalog to $BIG_N instances (catalog.CommitInstance, rows only)"
    "$WORK/dwgen" catalog -data "$SGD" -from "$SYN_N" -n $((BIG_N - SYN_N)) | tee "$OUT/catalog-fill.json" >&2
    "$WORK/sonogate" serve --ae-title SONOGATE --dimse-listen "127.0.0.1:$SG_DICOM" --http-listen "127.0.0.1:$SG_HTTP" \
      --data-dir "$SGD" --log-format text >>"$SGD/log" 2>&1 & SGPID=$!; PIDS+=("$SGPID")
    for _ in $(seq 60); do curl -sf -o /dev/null "http://127.0.0.1:$SG_HTTP/readyz" && break; sleep 0.5; done
    uptime >>"$OUT/load.txt"
    say "QIDO-RS at $BIG_N instances on sonogate"
    "$WORK/dwgen" qido -url "$SG" -studies $((BIG_N / 10)) -n "$QIDO_N" | tee "$OUT/qido-$BIG_N-sonogate.json" >&2
    kill "$SGPID"; wait "$SGPID" 2>/dev/null || true
  fi
  ;;
*) echo "unknown stage $st" >&2; exit 2 ;;
esac; done
say "done: $OUT"
