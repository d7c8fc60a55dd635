#!/usr/bin/env bash
# De-identification throughput, sonogate beside GDCM's gdcmanon and DCMTK's dcmodify, on the same
# corpora in one run (issue target: >= 2x gdcmanon files/s without pixel cleaning).
#
# Usage: bench/anon.sh            (REPS=3, corpora "large small" from $WORK, generated if missing)
#        CORPORA=small REPS=1 bench/anon.sh
# It drives ../shared/bench/run_peers.sh's anon section with sonogate in its gateway slot:
#   sonogate anonymize --profile bench --config $WORK/anon-bench.yaml $ANON_IN $ANON_OUT
# The profile is the Basic Profile with retain_long_modified_dates and clean_pixel: the corpus marks
# about a quarter of its instances BurnedInAnnotation YES, which sonogate would otherwise quarantine
# (and so not write); with clean_pixel their native frames are masked outside the ultrasound regions,
# so every instance is written, as gdcmanon writes every file. The other instances' pixel data is
# copied by offset, never decoded. This is more work than gdcmanon does, never less. Results: $WORK/results-<stamp>.tsv and
# $WORK/summary-<stamp>.md (harness format), printed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
HARNESS=${HARNESS:-$(cd "$REPO/../shared/bench" && pwd)}
export WORK=${WORK:-/tmp/sonobench}
export REPS=${REPS:-3}
export PY=${PY:-/usr/bin/python3}
mkdir -p "$WORK"
BIN="$WORK/sonogate-anon"
(cd "$REPO" && go build -o "$BIN" ./cmd/sonogate)
head -c 32 /dev/urandom | base64 > "$WORK/anon-bench.key"
cat > "$WORK/anon-bench.yaml" <<YAML
profiles:
  bench:
    key_file: $WORK/anon-bench.key
    options: [retain_long_modified_dates, clean_pixel]
YAML
export GATEWAY_ANON_CMD="$BIN anonymize --profile bench --config $WORK/anon-bench.yaml \"\$ANON_IN\" \"\$ANON_OUT\" >/dev/null 2>>$WORK/anon-gateway.log || true"
export GATEWAY_SECTIONS=anon
exec "$HARNESS/run_peers.sh" anon
