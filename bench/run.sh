#!/usr/bin/env bash
# sonogate side-by-side benchmark: one run, one corpus set, sonogate beside DCMTK storescp and Orthanc.
#
# Usage: bench/run.sh [--quick] [--no-build] [STAGE...]
#   STAGE: peers nagle-full bigrss relay   (default: all four, in that order)
#     peers      ../shared/bench/run_peers.sh phys cstore nagle, sonogate in its GATEWAY_CMD slot:
#                C-STORE small (2,000 x 306 KB) and large (200 files, 500 MB), one association,
#                TCP_NODELAY=1 (storescp --ignore, storescp, Orthanc, sonogate); then the harness's
#                Nagle section (large + first 300 small files, Nagle-on client; storescp, Orthanc, sonogate)
#     nagle-full the whole small corpus (2,000 files) with a Nagle-on client and TCP_NODELAY=1 servers
#                (the harness's cstore.sh with CLIENT_NODELAY=0 SERVER_NODELAY=1)
#     bigrss     peak RSS (VmHWM) receiving one >= 200 MB US multi-frame instance (bench/bigrss.sh)
#     relay      delivered-to-Orthanc rate through sonogate vs direct storescu -> Orthanc (bench/relay.sh)
#   --quick      harness check: tiny corpora (run_peers.sh --quick), REPS=1, ~2 minutes
#   --no-build   use SONOGATE_BIN as is
#
# Environment:
#   WORK=/tmp/sonobench   corpora, server dirs, logs, results (~3 GB free needed); --quick uses $WORK-quick
#   REPS=3                repetitions of every measurement (medians reported)
#   SONOGATE_BIN=$WORK/sonogate   binary built from this checkout (go build ./cmd/sonogate)
#   HARNESS=<repo>/../shared/bench   the peer harness (run_peers.sh, lib.sh, cstore.sh, gen_us_corpus.py)
#   PEERS_SECTIONS="phys cstore nagle"   harness sections run by the peers stage
#   STAGE_TIMEOUT_S=2400  hard cap per stage (the stage's process group gets SIGTERM, then SIGKILL)
#   QUIET_IDLE=85 QUIET_WAIT_S=600   before each stage, wait until the machine was >= QUIET_IDLE % idle
#                         over 5 s (the host is shared); QUIET_WAIT_S is the total waiting budget of the
#                         run, so a full run stays under ~35 min (about 22 min of measuring); QUIET_IDLE=0: no wait
# Ports: seven free TCP ports below the ephemeral range are picked on 127.0.0.1 at start.
#
# Output: $WORK/results-<stamp>.tsv (every run with its command; the harness format),
#         $WORK/summary-<stamp>.md (harness tables), $WORK/targets-<stamp>.md (bench/targets.py:
#         sonogate vs storescp / Orthanc tables, ratios, target verdicts), $WORK/machine-<stamp>.txt.
# Every server is started by the harness helpers (lib.sh), tracked by PID and stopped by SIGTERM.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
HARNESS=${HARNESS:-$(cd "$REPO/../shared/bench" && pwd)}
export HARNESS
export PY=${PY:-/usr/bin/python3}
QUICK=0 BUILD=1
STAGES=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    peers|nagle-full|bigrss|relay) STAGES+=("$arg") ;;
    *) echo "unknown argument: $arg (see -h)" >&2; exit 2 ;;
  esac
done
[ ${#STAGES[@]} -gt 0 ] || STAGES=(peers nagle-full bigrss relay)

WORK=${WORK:-/tmp/sonobench}
PEERS_FLAGS=()
if [ "$QUICK" = 1 ]; then
  PEERS_FLAGS=(--quick)
  WORK=${WORK%/}-quick   # run_peers.sh --quick does the same
  export REPS=1 CORPUS_ARGS_large="--studies 2 --target-mb 20" CORPUS_ARGS_small="--studies 20"
  export PHYS_REPS=1 DD_MB=128 FSYNC_FILES=100 IPERF_SECS=1
fi
export REPS=${REPS:-3}
export WORK
mkdir -p "$WORK"
BASE_WORK=${WORK%-quick}   # run_peers.sh appends -quick itself
STAGE_TIMEOUT_S=${STAGE_TIMEOUT_S:-2400}

say() { printf '[%s] run.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build ----
export SONOGATE_BIN=${SONOGATE_BIN:-$WORK/sonogate}
if [ "$BUILD" = 1 ]; then
  tags=()
  # a temporary build tag guards the DIMSE client while it is unfinished; use it only while present
  if head -n1 "$REPO/routing/dimsedest.go" 2>/dev/null | grep -q 'go:build dimseclient'; then tags=(-tags dimseclient); fi
  say "building $SONOGATE_BIN (go build ${tags[*]} ./cmd/sonogate, commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo ?), $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l) modified tracked files)"
  (cd "$REPO" && go build "${tags[@]}" -o "$SONOGATE_BIN" ./cmd/sonogate)
fi
[ -x "$SONOGATE_BIN" ] || { echo "no sonogate binary at $SONOGATE_BIN" >&2; exit 1; }

# ---- free loopback ports (outside the ephemeral range, so client sockets never take them) ----
read -r DICOM_PORT HTTP_PORT PG_PORT IPERF_PORT RELAY_GW_DICOM_PORT RELAY_GW_HTTP_PORT SPARE_PORT < <("$PY" - <<'EOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
cand = list(range(20000, min(lo, 32768) - 1))
random.shuffle(cand)
got = []
for p in cand:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    got.append(p)
    if len(got) == 7:
        break
print(*got)
EOF
)
export DICOM_PORT HTTP_PORT PG_PORT IPERF_PORT RELAY_GW_DICOM_PORT RELAY_GW_HTTP_PORT
say "ports: dicom=$DICOM_PORT http=$HTTP_PORT relay-gateway dicom=$RELAY_GW_DICOM_PORT http=$RELAY_GW_HTTP_PORT (pg=$PG_PORT iperf=$IPERF_PORT, unused)"

# ---- sonogate in the harness's gateway slot ----
# shellcheck disable=SC2016
export GATEWAY_CMD='"$SONOGATE_BIN" serve --ae-title "$GW_AET" --dimse-listen "$GW_HOST:$GW_DICOM_PORT" --http-listen "$GW_HOST:$GW_HTTP_PORT" --data-dir "$GW_STORAGE_DIR" --log-format text'
export GATEWAY_AET=GATEWAY GATEWAY_NAME=gateway GATEWAY_SECTIONS=cstore
export GATEWAY_READY_URL="http://127.0.0.1:$HTTP_PORT/readyz"
# shellcheck disable=SC2016
export GATEWAY_COUNT_CMD='find "$GW_STORAGE_DIR/objects/clinical" -type f -name "*.dcm" | wc -l'
export PEERS_CSTORE="storescp-ignore storescp orthanc"   # run_peers.sh appends the gateway itself
export PEERS_NAGLE="storescp orthanc gateway"
export MODES=1assoc          # the cstore section: one association per corpus (no per-file runs)

# ---- stage runner: own process group via timeout(1); SIGTERM/INT to us is passed on ----
CHILD="" LOADMON=""
on_signal() {
  say "interrupted; stopping stage (pid $CHILD)"
  [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
  [ -n "$CHILD" ] && wait "$CHILD" 2>/dev/null
  exit 130
}
stop_loadmon() { [ -n "$LOADMON" ] && kill "$LOADMON" 2>/dev/null; LOADMON=""; }
trap on_signal INT TERM
trap stop_loadmon EXIT
# the host is shared: keep a 10 s record of the load average next to the results
LOADLOG="$WORK/loadavg-$(date -u +%Y%m%dT%H%M%SZ).txt"
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  echo "# UTC time, loadavg 1/5/15 min, runnable/total tasks"
  while :; do echo "$(date -u +%H:%M:%S) $(cut -d' ' -f1-4 /proc/loadavg)"; sleep 10 & s=$!; wait "$s"; done ) >"$LOADLOG" &
LOADMON=$!
QUIET_IDLE=${QUIET_IDLE:-85} QUIET_WAIT_S=${QUIET_WAIT_S:-600}
idle_pct() {  # share of idle CPU time over the next $1 seconds, from /proc/stat
  local a b
  a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; v = 100; if (d > 0) v = 100 * (y[1] - x[1]) / d; printf "%.0f", v}'
}
wait_quiet() {
  [ "$QUIET_IDLE" -gt 0 ] || return 0
  local t0=$SECONDS idle
  while :; do
    idle=$(idle_pct 5)
    if [ "$idle" -ge "$QUIET_IDLE" ]; then
      QUIET_WAIT_S=$(( QUIET_WAIT_S - (SECONDS - t0) ))
      say "machine ${idle}% idle over 5 s: go"; return 0
    fi
    if (( SECONDS - t0 >= QUIET_WAIT_S )); then
      say "WARNING: machine only ${idle}% idle and the waiting budget is spent (load $(cut -d' ' -f1-3 /proc/loadavg)); measuring anyway"
      QUIET_WAIT_S=0
      return 0
    fi
    say "machine busy (${idle}% idle, load $(cut -d' ' -f1 /proc/loadavg)); waiting"
    sleep 10
  done
}
stage() {  # stage NAME cmd...
  local name=$1; shift
  wait_quiet
  say "stage $name: $*"
  local t0=$SECONDS rc=0
  timeout -k 60 "$STAGE_TIMEOUT_S" "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  say "stage $name done in $((SECONDS - t0)) s (rc=$rc)"
  return 0
}

T0=$SECONDS
RESULTS=""
for st in "${STAGES[@]}"; do
  if [ "$st" = peers ]; then
    # run_peers.sh writes $WORK/results-<stamp>.tsv and points $WORK/results.tsv at it
    # shellcheck disable=SC2086
    WORK=$BASE_WORK stage peers "$HARNESS/run_peers.sh" "${PEERS_FLAGS[@]}" ${PEERS_SECTIONS:-phys cstore nagle}
    RESULTS=$(readlink -f "$WORK/results.tsv")
    continue
  fi
  if [ -z "$RESULTS" ]; then   # later stages without "peers": a results file of our own
    RESULTS="$WORK/results-$(date -u +%Y%m%dT%H%M%SZ).tsv"
    ln -sfn "$(basename "$RESULTS")" "$WORK/results.tsv"
  fi
  export RESULTS
  case "$st" in
    nagle-full) SERVER_NODELAY=1 CLIENT_NODELAY=0 SYSTEM_SUFFIX=+nagle-client CORPORA=small MODES=1assoc \
                  stage nagle-full "$HARNESS/cstore.sh" storescp orthanc gateway ;;
    bigrss)     stage bigrss "$HERE/bigrss.sh" gateway storescp orthanc ;;
    relay)      stage relay "$HERE/relay.sh" ;;
  esac
done
say "all stages done in $((SECONDS - T0)) s; results $RESULTS"
stop_loadmon
say "load average during the run (1-min, every 10 s): $(awk '!/^#/ {print $2}' "$LOADLOG" | sort -n | awk '{a[NR]=$1} END {if (NR) printf "min %s median %s max %s over %d samples", a[1], a[int((NR+1)/2)], a[NR], NR}') ($LOADLOG)"

stamp=$(basename "$RESULTS" .tsv); stamp=${stamp#results-}
"$PY" "$HARNESS/summarize.py" "$RESULTS" --md --gateway-name gateway >"$WORK/summary-$stamp.md"
"$PY" "$HERE/targets.py" "$RESULTS" >"$WORK/targets-$stamp.md"
cat "$WORK/targets-$stamp.md"
for p in $DICOM_PORT $HTTP_PORT $RELAY_GW_DICOM_PORT $RELAY_GW_HTTP_PORT; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then say "WARNING: something still listens on port $p"; fi
done
say "results: $RESULTS  summary: $WORK/summary-$stamp.md  targets: $WORK/targets-$stamp.md"
