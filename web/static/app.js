// sonogate dashboard. Plain JavaScript, no dependencies.
//
// Every value that comes from the node (patient names, UIDs, error
// messages) reaches the page through text nodes or an SVG attribute,
// never parsed as HTML: names come from modalities and are untrusted.
"use strict";

(function () {
  const TOKEN_KEY = "sonogate.token";
  const QUEUE_REFRESH_MS = 5000;
  const QUARANTINE_PREFIX = "quarantined: ";
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ---- DOM helpers -------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el builds an element; string children become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.setAttribute("class", v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
  }

  function td(text, cls, title) {
    return el("td", { class: cls, title: title }, text === undefined || text === null || text === "" ? "—" : text);
  }

  function fillTable(tableId, emptyId, rows) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren(...rows);
    $(emptyId).hidden = rows.length > 0;
    $(tableId).hidden = rows.length === 0;
  }

  // ---- formatting --------------------------------------------------------

  function fmtDA(da) {
    return /^\d{8}$/.test(da || "") ? da.slice(0, 4) + "-" + da.slice(4, 6) + "-" + da.slice(6) : da || "";
  }

  function fmtTM(tm) {
    return /^\d{4}/.test(tm || "") ? tm.slice(0, 2) + ":" + tm.slice(2, 4) : "";
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function ago(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(1) + " d ago";
  }

  function num(v, digits) {
    return typeof v === "number" && isFinite(v) ? (digits === undefined ? String(v) : v.toFixed(digits)) : "";
  }

  // pnGroup renders one component group of a person name (PS3.5 §6.2):
  // family^given^middle^prefix^suffix, shown with spaces.
  function pnGroup(s) {
    return (s || "").split("^").map((x) => x.trim()).filter(Boolean).join(" ");
  }

  // DICOM JSON helpers (PS3.18 Annex F).
  function dv(obj, tag) {
    const a = obj && obj[tag];
    return a && Array.isArray(a.Value) ? a.Value : [];
  }
  function d1(obj, tag) {
    const v = dv(obj, tag)[0];
    return v === undefined || v === null ? "" : v;
  }

  // ---- API access --------------------------------------------------------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    const t = token();
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  class APIError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  async function api(path, opts) {
    opts = opts || {};
    const resp = await fetch(path, {
      method: opts.method || "GET",
      headers: headers(opts.accept ? { Accept: opts.accept } : { Accept: "application/json" }),
      cache: "no-store",
    });
    if (resp.status === 204) return null;
    const text = await resp.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch (e) { body = null; }
    }
    if (!resp.ok) {
      const msg = body && body.error ? body.error : text.trim() || resp.statusText;
      throw new APIError(resp.status, msg);
    }
    return body;
  }

  const problems = new Map(); // source → message
  function report(source, err) {
    if (err) {
      let msg = err.message || String(err);
      if (err.status === 401) msg = "This node requires a bearer token: paste one in the Token field above.";
      else if (err.status === 403) msg = source + ": " + msg;
      else msg = source + ": " + msg + (err.status ? " (HTTP " + err.status + ")" : "");
      problems.set(source, msg);
    } else {
      problems.delete(source);
    }
    const b = $("banner");
    const msgs = [...new Set(problems.values())];
    b.hidden = msgs.length === 0;
    b.replaceChildren(...msgs.map((m) => el("div", null, m)));
  }

  // Links to API resources: in token mode a plain link cannot carry the
  // Authorization header, so the click fetches with it and hands the
  // browser a blob instead.
  function apiLink(href, label, filename) {
    const a = el("a", { href: href, target: "_blank", rel: "noopener" }, label);
    if (filename) a.setAttribute("download", filename);
    a.addEventListener("click", (ev) => authClick(ev, a));
    return a;
  }

  async function authClick(ev, a) {
    if (!token()) return;
    ev.preventDefault();
    try {
      const resp = await fetch(a.getAttribute("href"), { headers: headers(), cache: "no-store" });
      if (!resp.ok) throw new APIError(resp.status, (await resp.text()).trim());
      const url = URL.createObjectURL(await resp.blob());
      const tmp = el("a", { href: url, download: a.getAttribute("download") || "", target: "_blank", rel: "noopener" });
      document.body.appendChild(tmp);
      tmp.click();
      tmp.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      report("download", err);
    }
  }

  // The clinical namespace's APIs (the research namespace has its own
  // under /research/, with pseudonyms only).
  function apiPrefix() { return "/api"; }
  function qidoPrefix() { return "/dicom-web"; }

  // ---- health ------------------------------------------------------------

  async function refreshHealth() {
    const badge = $("health");
    let live = false, ready = false, why = "";
    try {
      live = (await fetch("/healthz", { cache: "no-store" })).ok;
      const r = await fetch("/readyz", { cache: "no-store" });
      ready = r.ok;
      if (!ready) why = (await r.text()).trim();
    } catch (e) {
      why = "node unreachable";
    }
    badge.className = "badge " + (ready ? "ok" : live ? "warn" : "bad");
    badge.textContent = ready ? "ready" : live ? "not ready" : "down";
    badge.title = why || "GET /healthz and /readyz";
  }

  // ---- queues ------------------------------------------------------------

  const STATES = ["pending", "inflight", "done", "dead"];

  async function refreshQueues() {
    let q, quarantine;
    try {
      [q, quarantine] = await Promise.all([
        api("/api/queue?state=dead&limit=1000"),
        api("/api/quarantine"),
      ]);
      report("queue", null);
    } catch (err) {
      report("queue", err);
      return;
    }
    const dests = (q && q.destinations) || [];
    fillTable("queue-table", "queue-empty", dests.map((d) => {
      const c = d.counts || {};
      return el("tr", { "data-destination": d.destination },
        td(d.destination),
        STATES.map((s) => el("td", { class: "num" + (s === "dead" && c[s] > 0 ? " dead" : ""), "data-state": s }, String(c[s] || 0))),
        td(d.oldest_pending ? ago(d.oldest_pending) : "", "", d.oldest_pending ? fmtTime(d.oldest_pending) : undefined));
    }));

    const dead = ((q && q.jobs) || []).filter((j) => !(j.last_error || "").startsWith(QUARANTINE_PREFIX));
    $("dead-count").textContent = "(" + dead.length + ")";
    fillTable("dead-table", "dead-empty", dead.map((j) => el("tr", { "data-job": j.id },
      td(String(j.id), "num"), td(j.destination), td(j.rule), td(String(j.instance_id), "num"),
      td(String(j.attempts), "num"), td(ago(j.updated_at), "", fmtTime(j.updated_at)), td(j.last_error, "reason"),
      el("td", null, el("button", { class: "retry", type: "button", onclick: (ev) => retry(j.id, ev.currentTarget) }, "Retry")))));

    const qs = quarantine || [];
    $("quarantine-count").textContent = "(" + qs.length + ")";
    fillTable("quarantine-table", "quarantine-empty", qs.map((x) => el("tr", null,
      td(String(x.job_id), "num"), td(x.destination), td(x.sop_instance_uid, "uid", x.sop_instance_uid),
      td(ago(x.since), "", fmtTime(x.since)), td(x.reason, "reason"))));
    $("queue-updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  async function retry(id, button) {
    button.disabled = true;
    button.textContent = "Retrying…";
    try {
      await api("/api/queue/" + encodeURIComponent(id) + "/retry", { method: "POST" });
      report("retry", null);
    } catch (err) {
      report("retry", err);
      button.disabled = false;
      button.textContent = "Retry";
      return;
    }
    refreshQueues();
  }

  // ---- studies (QIDO-RS) -------------------------------------------------

  // QIDO-RS defines no order (sonogate's catalog returns studies by UID),
  // so the page asks for one more than it shows and says when the search
  // should be narrowed; what it shows it sorts newest first.
  const STUDY_LIMIT = 50;
  const STUDY_FIELDS = ["00081030", "00080061", "00201206", "00201208", "00080050"];

  function dateRange(fromId, toId) {
    const f = $(fromId).value.replace(/-/g, ""), t = $(toId).value.replace(/-/g, "");
    return f || t ? f + "-" + t : "";
  }

  async function qido(params) {
    const u = new URLSearchParams(params);
    u.set("limit", String(STUDY_LIMIT + 1)); // one more, to tell the user there are more
    u.set("includefield", STUDY_FIELDS.join(","));
    return (await api(qidoPrefix() + "/studies?" + u.toString(), { accept: "application/dicom+json" })) || [];
  }

  async function refreshStudies() {
    const term = $("q-patient").value.trim();
    const base = {};
    const dr = dateRange("q-from", "q-to");
    if (dr) base.StudyDate = dr;
    let results, more = false;
    try {
      if (term) {
        // QIDO matches one attribute at a time: ask by name and by ID.
        const wild = term.includes("*") || term.includes("?") ? term : "*" + term + "*";
        const [a, b] = await Promise.all([
          qido(Object.assign({ PatientName: wild }, base)),
          qido(Object.assign({ PatientID: wild }, base)),
        ]);
        more = a.length > STUDY_LIMIT || b.length > STUDY_LIMIT;
        results = a.slice(0, STUDY_LIMIT).concat(b.slice(0, STUDY_LIMIT));
      } else {
        results = await qido(base);
        more = results.length > STUDY_LIMIT;
        results = results.slice(0, STUDY_LIMIT);
      }
      report("studies", null);
    } catch (err) {
      report("studies", err);
      return;
    }
    const seen = new Set();
    results = results.filter((s) => {
      const uid = d1(s, "0020000D");
      if (seen.has(uid)) return false;
      seen.add(uid);
      return true;
    });
    results.sort((x, y) => (d1(y, "00080020") + d1(y, "00080030")).localeCompare(d1(x, "00080020") + d1(x, "00080030")));
    fillTable("study-table", "study-empty", results.map(studyRow));
    $("study-more").hidden = !more;
  }

  function pnCell(study) {
    const names = dv(study, "00100010").filter((v) => v && typeof v === "object");
    const cell = el("td", { class: "pn" });
    if (names.length === 0) {
      cell.textContent = "—";
      return cell;
    }
    const raw = [];
    for (const n of names) {
      const alpha = pnGroup(n.Alphabetic), ideo = pnGroup(n.Ideographic), phon = pnGroup(n.Phonetic);
      raw.push([n.Alphabetic || "", n.Ideographic || "", n.Phonetic || ""].join("=").replace(/=+$/, ""));
      if (ideo) cell.appendChild(el("span", { class: "pn-ideo" }, ideo));
      if (alpha) cell.appendChild(el("span", { class: ideo ? "pn-alt" : "pn-ideo" }, alpha));
      if (phon) cell.appendChild(el("span", { class: "pn-alt" }, phon));
    }
    cell.title = raw.join("\\");
    return cell;
  }

  function studyRow(s) {
    const uid = d1(s, "0020000D");
    return el("tr", { "data-study": uid },
      pnCell(s), td(d1(s, "00100020")),
      td((fmtDA(d1(s, "00080020")) + " " + fmtTM(d1(s, "00080030"))).trim(), "date"),
      td(dv(s, "00080061").join(", ")), td(d1(s, "00081030")), td(d1(s, "00080050")),
      td(String(d1(s, "00201206")), "num"), td(String(d1(s, "00201208")), "num"),
      td(uid, "uid", uid));
  }

  // ---- elastography ------------------------------------------------------

  let reports = [];

  function reportQuery() {
    const u = new URLSearchParams();
    const pid = $("r-patient").value.trim();
    if (pid) u.set("patient_id", pid);
    const f = $("r-from").value, t = $("r-to").value;
    if (f) u.set("from", f);
    if (t) u.set("to", t);
    const rel = $("r-reliable").value;
    if (rel) u.set("reliable", rel);
    return u;
  }

  async function refreshReports() {
    const u = reportQuery();
    const csv = new URLSearchParams(u);
    csv.set("format", "csv");
    csv.set("limit", "10000");
    $("csv-link").setAttribute("href", apiPrefix() + "/elastography/reports?" + csv.toString());
    u.set("limit", "1000");
    try {
      reports = (await api(apiPrefix() + "/elastography/reports?" + u.toString())) || [];
      report("elastography", null);
    } catch (err) {
      report("elastography", err);
      return;
    }
    reports.sort((a, b) => (b.study_date || "").localeCompare(a.study_date || "") || b.id - a.id);
    fillTable("report-table", "report-empty", reports.map(reportRow));
    drawCharts(reports);
  }

  function kpa(x) { return x && typeof x.kpa === "number" ? x.kpa : null; }

  function reportRow(r) {
    const rp = r.report || {};
    const sm = rp.summary || {}, qc = rp.qc || {}, st = rp.staging || {}, dev = rp.device || {};
    const reliable = qc.reliable === true;
    const flags = (qc.flags || []).join(", ");
    const relCell = el("td", null, el("span", { class: reliable ? "yes" : "no" }, reliable ? "yes" : "no"));
    if (flags) relCell.appendChild(el("span", { class: "flags" }, flags));
    const stCell = el("td", { class: "staging" });
    if (st.category) {
      stCell.appendChild(el("span", { title: st.category }, st.text || st.category));
      if (st.applicable === false) stCell.appendChild(el("small", null, "not applicable: " + (st.reason || "")));
      stCell.appendChild(el("small", null, (st.scheme ? st.scheme + " · " : "") + (st.disclaimer || "not clinical advice")));
    } else {
      stCell.appendChild(document.createTextNode("—"));
      stCell.appendChild(el("small", null, st.reason || "not clinical advice"));
    }
    const base = apiPrefix() + "/elastography/reports/" + encodeURIComponent(r.id);
    return el("tr", { class: reliable ? "" : "unreliable", "data-report": r.id },
      td(fmtDA(r.study_date), "date"), td(r.patient_id), td(rp.method), td(rp.site && rp.site.name),
      td([dev.manufacturer, dev.model, dev.vendor_technique].filter(Boolean).join(" · ")),
      td(num(kpa(sm.median)), "num median"), td(num(kpa(sm.iqr)), "num"), td(num(kpa(sm.iqr_over_median_pct)), "num"),
      td(sm.n_valid === undefined ? "" : sm.n_valid + (sm.n_total !== undefined ? " / " + sm.n_total : ""), "num"),
      relCell, stCell,
      el("td", { class: "links" }, apiLink(base + "/fhir", "FHIR", "report-" + r.id + ".fhir.json"),
        apiLink(base, "JSON", "report-" + r.id + ".json")));
  }

  // SRU 2020 consensus (ARFI: pSWE, 2D-SWE) cut-offs in kPa.
  const BANDS = [
    { lo: 0, hi: 5, fill: "#dff1e3", label: "≤5 high probability normal" },
    { lo: 5, hi: 9, fill: "#eef6df", label: "<9 rules out cACLD if no other signs" },
    { lo: 9, hi: 13, fill: "#fdf3d3", label: "9–13 suggestive of cACLD" },
    { lo: 13, hi: 17, fill: "#fbe3cf", label: ">13 highly suggestive of cACLD" },
    { lo: 17, hi: Infinity, fill: "#f8d7d4", label: ">17 probability of CSPH" },
  ];
  const METHOD_COLORS = { pSWE: "#1f4e79", "2D-SWE": "#7b3fa0", TE: "#0b7a75" };

  function dayNumber(da) {
    if (!/^\d{8}$/.test(da || "")) return null;
    return Date.UTC(+da.slice(0, 4), +da.slice(4, 6) - 1, +da.slice(6)) / 86400000;
  }

  function drawCharts(list) {
    const byPatient = new Map();
    for (const r of list) {
      const m = kpa(r.report && r.report.summary && r.report.summary.median);
      const day = dayNumber(r.study_date);
      if (m === null || day === null) continue;
      const key = r.patient_id || "(no patient ID)";
      if (!byPatient.has(key)) byPatient.set(key, []);
      byPatient.get(key).push({ r: r, kpa: m, day: day });
    }
    const charts = [...byPatient.keys()].sort().map((pid) =>
      el("figure", { class: "chart", "data-patient": pid },
        el("h4", null, "Patient " + pid), chart(byPatient.get(pid))));
    $("charts").replaceChildren(...charts);
    if (charts.length === 0) $("charts").appendChild(el("p", { class: "empty" }, "No reports with a median in kPa and a study date."));
  }

  function chart(points) {
    const W = 560, H = 270, L = 40, R = 190, T = 10, B = 52;
    const pw = W - L - R, ph = H - T - B;
    const maxK = Math.max(20, ...points.map((p) => p.kpa)) * 1.08;
    let d0 = Math.min(...points.map((p) => p.day)), d1v = Math.max(...points.map((p) => p.day));
    if (d0 === d1v) { d0 -= 30; d1v += 30; } else { const pad = (d1v - d0) * 0.08; d0 -= pad; d1v += pad; }
    const x = (day) => L + ((day - d0) / (d1v - d0)) * pw;
    const y = (k) => T + ph - (Math.min(k, maxK) / maxK) * ph;
    const g = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "median liver stiffness in kPa by study date" });

    for (const b of BANDS) {
      const top = y(Math.min(b.hi, maxK)), bot = y(b.lo);
      g.appendChild(svg("rect", { x: L, y: top, width: pw, height: Math.max(0, bot - top), fill: b.fill }));
      g.appendChild(svg("text", { x: L + pw + 6, y: (top + bot) / 2 + 3, class: "bandlabel" }, b.label));
      if (b.lo > 0) {
        g.appendChild(svg("line", { x1: L, x2: L + pw, y1: bot, y2: bot, stroke: "#9aa5b1", "stroke-dasharray": "3 3" }));
        g.appendChild(svg("text", { x: L - 4, y: bot + 3, "text-anchor": "end", class: "axis" }, String(b.lo)));
      }
    }
    g.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: T + ph, stroke: "#5d6b7a" }));
    g.appendChild(svg("line", { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, stroke: "#5d6b7a" }));
    g.appendChild(svg("text", { x: L - 4, y: T + ph + 3, "text-anchor": "end", class: "axis" }, "0"));
    g.appendChild(svg("text", { x: 10, y: T + ph / 2, class: "axis", transform: "rotate(-90 10 " + (T + ph / 2) + ")", "text-anchor": "middle" }, "median kPa"));

    const days = [...new Set(points.map((p) => p.day))].sort((a, b) => a - b);
    const step = Math.ceil(days.length / 5);
    days.forEach((d, i) => {
      if (i % step !== 0 && i !== days.length - 1) return;
      const iso = new Date(d * 86400000).toISOString().slice(0, 10);
      g.appendChild(svg("line", { x1: x(d), x2: x(d), y1: T + ph, y2: T + ph + 4, stroke: "#5d6b7a" }));
      g.appendChild(svg("text", { x: x(d), y: T + ph + 16, "text-anchor": "middle", class: "axis" }, iso));
    });

    const methods = [...new Set(points.map((p) => p.r.report.method || "?"))].sort();
    methods.forEach((m, mi) => {
      const color = METHOD_COLORS[m] || "#555";
      const off = (mi - (methods.length - 1) / 2) * 6;
      const ps = points.filter((p) => (p.r.report.method || "?") === m).sort((a, b) => a.day - b.day);
      if (ps.length > 1) {
        g.appendChild(svg("polyline", { points: ps.map((p) => (x(p.day) + off) + "," + y(p.kpa)).join(" "),
          fill: "none", stroke: color, "stroke-width": 1.5, "stroke-opacity": 0.6 }));
      }
      for (const p of ps) {
        const rel = p.r.report.qc && p.r.report.qc.reliable === true;
        const st = p.r.report.staging || {};
        const tip = fmtDA(p.r.study_date) + " · " + m + " · median " + p.kpa + " kPa" +
          (rel ? "" : " · UNRELIABLE (" + ((p.r.report.qc && p.r.report.qc.flags) || []).join(", ") + ")") +
          (st.text ? " · " + st.text + " (not clinical advice)" : "");
        const cx = x(p.day) + off, cy = y(p.kpa);
        const mark = svg("circle", { cx: cx, cy: cy, r: rel ? 4.5 : 5.5, fill: rel ? color : "#fff",
          stroke: rel ? "#fff" : "#b3261e", "stroke-width": rel ? 1 : 2.2, "data-kpa": p.kpa,
          "data-reliable": rel ? "true" : "false", class: "point" }, svg("title", null, tip));
        g.appendChild(mark);
        if (!rel) g.appendChild(svg("text", { x: cx + 7, y: cy - 6, fill: "#b3261e", "font-size": 10, "font-weight": 700 }, "!"));
      }
    });

    // Legend below the x axis.
    let lx = L;
    const ly = H - 14;
    for (const m of methods) {
      const c = METHOD_COLORS[m] || "#555";
      g.appendChild(svg("circle", { cx: lx + 4, cy: ly - 3, r: 4, fill: c }));
      g.appendChild(svg("text", { x: lx + 12, y: ly, class: "axis" }, m));
      lx += 30 + m.length * 7;
    }
    g.appendChild(svg("circle", { cx: lx + 4, cy: ly - 3, r: 4.5, fill: "#fff", stroke: "#b3261e", "stroke-width": 2 }));
    g.appendChild(svg("text", { x: lx + 12, y: ly, class: "axis" }, "failed quality criteria"));
    return g;
  }

  // ---- tabs, token, start-up ---------------------------------------------

  function showTab() {
    const want = (location.hash || "#queues").slice(1);
    const tabs = ["queues", "studies", "elastography"];
    const cur = tabs.includes(want) ? want : "queues";
    for (const t of tabs) $(t).hidden = t !== cur;
    for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("active", a.dataset.tab === cur);
  }

  function refreshAll() {
    refreshHealth();
    refreshQueues();
    refreshStudies();
    refreshReports();
  }

  function init() {
    window.addEventListener("hashchange", showTab);
    showTab();

    const tokenInput = $("token");
    const showTokenState = () => { tokenInput.placeholder = token() ? "token set (hidden)" : "bearer token (optional)"; };
    showTokenState();
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = tokenInput.value.trim();
      try {
        if (t) sessionStorage.setItem(TOKEN_KEY, t);
      } catch (e) { /* storage disabled: token not kept */ }
      tokenInput.value = "";
      showTokenState();
      refreshAll();
    });
    $("token-clear").addEventListener("click", () => {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
      showTokenState();
      refreshAll();
    });

    $("study-search").addEventListener("submit", (ev) => { ev.preventDefault(); refreshStudies(); });
    $("q-reset").addEventListener("click", () => {
      $("q-patient").value = ""; $("q-from").value = ""; $("q-to").value = "";
      refreshStudies();
    });
    $("report-filter").addEventListener("submit", (ev) => { ev.preventDefault(); refreshReports(); });
    $("csv-link").addEventListener("click", (ev) => authClick(ev, $("csv-link")));

    refreshAll();
    setInterval(() => {
      if (document.hidden || !$("auto-refresh").checked) return;
      refreshHealth();
      refreshQueues();
    }, QUEUE_REFRESH_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
