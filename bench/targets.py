#!/usr/bin/python3
"""Focused tables and target verdicts for sonogate from a harness results file.

Reads the results TSV written by ../shared/bench/run_peers.sh plus the rows that
bench/run.sh appends (full-corpus Nagle-client run, bigrss, relay), and prints
markdown: one table per metric group with sonogate beside storescp and Orthanc
and the ratios, then one line per target of the issue with "met" / "NOT met".

    bench/targets.py RESULTS.tsv [--gateway gateway]

Cells are medians over repetitions ("±x%" = half-range / median, n = runs).
"""
import argparse
import csv
import statistics
import sys


def load(path):
    data = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            try:
                v = float(r["value"])
            except (TypeError, ValueError):
                continue
            data.setdefault((r["section"], r["metric"], r["system"]), []).append(v)
    return data


def fmt(v):
    if v is None or v != v:
        return "-"
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    return "%.3g" % v


class Table:
    def __init__(self, data):
        self.data = data

    def vals(self, sec, metric, system):
        return self.data.get((sec, metric, system))

    def med(self, sec, metric, system):
        v = self.vals(sec, metric, system)
        return statistics.median(v) if v else None

    def cell(self, sec, metric, system):
        v = self.vals(sec, metric, system)
        if not v:
            return "-"
        m = statistics.median(v)
        s = fmt(m)
        if len(v) > 1 and m:
            s += " ±%.0f%% n=%d" % ((max(v) - min(v)) / 2 / m * 100, len(v))
        return s


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--gateway", default="gateway")
    a = ap.parse_args()
    T = Table(load(a.tsv))
    gw = a.gateway
    out = []

    def table(title, header, rows, note=None):
        if not rows:
            return
        out.append("### %s\n" % title)
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            out.append("| " + " | ".join(r) + " |")
        if note:
            out.append("\n" + note)
        out.append("")

    # 1. C-STORE ingest, TCP_NODELAY=1 on both ends
    rows = []
    for corpus in ("small", "large"):
        for what, unit in (("files/s", "files/s"), ("MB/s", "MB/s"), ("MB/s incl. final sync", "MB/s"),
                           ("server CPU s/GB", "cpu-s/GB"), ("server peak RSS", "MiB")):
            m = "C-STORE %s 1 assoc %s" % (corpus, what)
            g, s, o = (T.med("cstore", m, x) for x in (gw, "storescp", "orthanc"))
            if g is None and s is None:
                continue
            rows.append([m, unit, T.cell("cstore", m, gw), T.cell("cstore", m, "storescp"), T.cell("cstore", m, "orthanc"),
                         T.cell("cstore", m, "storescp-ignore"), fmt(ratio(g, s)), fmt(ratio(g, o))])
    table("C-STORE ingest, one association, TCP_NODELAY=1 client (fresh empty server per run)",
          ["metric", "unit", "sonogate", "storescp", "Orthanc", "storescp --ignore (ceiling)", "sonogate/storescp", "sonogate/Orthanc"],
          rows, "sonogate fsyncs every instance before C-STORE-RSP; storescp never fsyncs; Orthanc fsyncs the file (SyncStorageArea).")

    # 2. Nagle-on client
    rows = []
    for m, label in (("C-STORE small 1 assoc files/s", "small, all 2,000 files, files/s"),
                     ("C-STORE small 1 assoc MB/s", "small, all 2,000 files, MB/s"),
                     ("C-STORE small 1 assoc (first 300) files/s", "small, first 300 files, files/s"),
                     ("C-STORE large 1 assoc files/s", "large, 200 files, files/s"),
                     ("C-STORE large 1 assoc MB/s", "large, 200 files, MB/s")):
        for suffix, srvdesc in (("+nagle-client", "server TCP_NODELAY=1"), ("+nagle", "server TCP_NODELAY unset")):
            g, s, o = (T.med("cstore", m, x + suffix) for x in (gw, "storescp", "orthanc"))
            if g is None and s is None:
                continue
            rows.append([label, srvdesc, T.cell("cstore", m, gw + suffix), T.cell("cstore", m, "storescp" + suffix),
                         T.cell("cstore", m, "orthanc" + suffix), fmt(ratio(g, s)), fmt(ratio(g, o))])
    table("Nagle-on client (storescu without TCP_NODELAY in its environment)",
          ["corpus / metric", "peer servers", "sonogate", "storescp", "Orthanc", "sonogate/storescp", "sonogate/Orthanc"], rows,
          "sonogate is a Go server (TCP_NODELAY always on, TCP_QUICKACK re-armed after each read); the DCMTK servers follow the "
          "TCP_NODELAY variable in their environment, so the two sonogate rows of a pair are the same configuration.")

    # 3. one big instance
    rows = []
    big = sorted({m for (sec, m, _s) in T.data if sec == "bigrss"})
    for m in big:
        unit = "MB/s" if m.endswith("MB/s") else "MiB"
        g, s, o = (T.med("bigrss", m, x) for x in (gw, "storescp", "orthanc"))
        rows.append([m, unit, T.cell("bigrss", m, gw), T.cell("bigrss", m, "storescp"), T.cell("bigrss", m, "orthanc"),
                     fmt(ratio(g, s)), fmt(ratio(g, o))])
    if rows:
        table("One large instance (>= 200 MB US multi-frame), fresh server per run",
              ["metric", "unit", "sonogate", "storescp", "Orthanc", "sonogate/storescp", "sonogate/Orthanc"], rows)

    # 4. relay
    rows = []
    rel = [m for m in dict.fromkeys(m for (sec, m, _s) in T.data if sec == "relay")]
    for m in rel:
        unit = ("cpu-s/GB" if "CPU s/GB" in m else "files/s" if "files/s" in m else "MB/s" if "MB/s" in m
                else "MiB" if "RSS" in m else "s")
        g, o = T.med("relay", m, gw), T.med("relay", m, "orthanc")
        rows.append([m, unit, T.cell("relay", m, gw), T.cell("relay", m, "orthanc"), fmt(ratio(g, o))])
    if rows:
        table("Delivered to Orthanc: storescu -> sonogate -> Orthanc (sonogate column) vs storescu -> Orthanc (Orthanc column)",
              ["metric", "unit", "through sonogate", "direct to Orthanc", "sonogate/direct"], rows)

    # 5. targets
    def verdict(ok):
        return "n/a (not measured)" if ok is None else ("**met**" if ok else "**NOT met**")

    tg = []
    g, s, o = (T.med("cstore", "C-STORE small 1 assoc files/s", x) for x in (gw, "storescp", "orthanc"))
    rs, ro = ratio(g, s), ratio(g, o)
    ok = None if rs is None or ro is None else (rs >= 1.0 and ro >= 2.0)
    tg.append(["small corpus: >= 1.0x storescp and >= 2x Orthanc files/s, fsync per instance",
               "%s files/s = %sx storescp (%s), %sx Orthanc (%s)" % (fmt(g), fmt(rs), fmt(s), fmt(ro), fmt(o)), verdict(ok)])
    g, s = (T.med("cstore", "C-STORE large 1 assoc MB/s", x) for x in (gw, "storescp"))
    r = ratio(g, s)
    tg.append(["large corpus: >= 0.9x storescp MB/s", "%s MB/s = %sx storescp (%s)" % (fmt(g), fmt(r), fmt(s)),
               verdict(None if r is None else r >= 0.9)])
    hw = [m for m in big if m.endswith("server peak RSS (VmHWM)")]
    if hw:
        v = T.vals("bigrss", hw[0], gw) or []
        mx = max(v) if v else None
        tg.append(["peak RSS receiving a >= 200 MB instance: < 100 MB",
                   "VmHWM max %s MiB over %d runs (median %s; %s)" % (fmt(mx), len(v), fmt(T.med("bigrss", hw[0], gw)), hw[0].split(":")[0]),
                   verdict(None if mx is None else mx * 1.048576 < 100)])
    for corpus, unit in (("small", "files/s"), ("large", "MB/s")):
        m = "delivered to Orthanc %s %s" % (corpus, unit)
        g, o = T.med("relay", m, gw), T.med("relay", m, "orthanc")
        r = ratio(g, o)
        tg.append(["delivered to Orthanc per second through sonogate >= 0.8x direct (%s corpus)" % corpus,
                   "%s %s vs direct %s = %sx" % (fmt(g), unit, fmt(o), fmt(r)), verdict(None if r is None else r >= 0.8)])
    for m, label in (("C-STORE small 1 assoc files/s", "all 2,000 small files"),
                     ("C-STORE small 1 assoc (first 300) files/s", "first 300 small files")):
        g, s = T.med("cstore", m, gw + "+nagle-client"), T.med("cstore", m, "storescp+nagle-client")
        if g is None:
            continue
        tg.append(["Nagle-on client: beat storescp's stall (~66 files/s) (%s)" % label,
                   "%s files/s vs storescp %s = %sx" % (fmt(g), fmt(s), fmt(ratio(g, s))),
                   verdict(None if s is None else g > s and g > 66)])
    table("Targets (issue 2)", ["target", "measured (medians)", "verdict"], tg)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
