// The dashboard page (docs/observability.md, "The dashboard page"): plain HTML, CSS and JavaScript,
// all inline (no CDN, no network but its own polls). Every POLL_MS it fetches /stats.json and
// /fibers, keeps the last 120 points and redraws SVG line charts: tasks, rates of switches, steals
// and spawns, queue depths, per-worker busy share, scheduling-delay percentiles of the interval.
// The latest values also go into the DOM as text (legend values, #status data attributes) so that
// a test can read them from the rendered DOM.
#include "dashboard/page.hpp"

namespace spindle::detail {

namespace {

constexpr std::string_view kPage = R"PAGE(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Spindle dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:16px;margin:0}#status{opacity:.8}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(470px,1fr));gap:12px;padding:12px}
section{background:#fff;border-radius:6px;padding:8px 10px;box-shadow:0 1px 2px #0002}
section h2{font-size:13px;margin:0 0 4px}svg{width:100%;height:140px;display:block}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px}.legend i{display:inline-block;width:10px;
height:3px;vertical-align:middle;margin-right:4px}.wide{grid-column:1/-1}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{text-align:left;padding:2px 8px;
border-bottom:1px solid #eee}th{background:#fafafa}.axis{fill:#889;font-size:10px}
</style></head><body>
<header><h1>Spindle runtime</h1><span id="summary">connecting...</span>
<span id="status" data-polls="0" data-errors="0"></span></header>
<main>
<section><h2>Tasks</h2><svg id="c-tasks" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-tasks"></div></section>
<section><h2>Rates (per second)</h2><svg id="c-rates" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-rates"></div></section>
<section><h2>Ready-queue depth</h2><svg id="c-queues" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-queues"></div></section>
<section><h2>Worker busy share (%)</h2><svg id="c-busy" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-busy"></div></section>
<section><h2>Scheduling delay, this interval (&micro;s)</h2><svg id="c-delay" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-delay"></div></section>
<section><h2>Run time between switches, this interval (&micro;s)</h2><svg id="c-run" viewBox="0 0 460 140" preserveAspectRatio="none"></svg>
<div class="legend" id="l-run"></div></section>
<section class="wide"><h2>Fibers (<span id="fiber-count">0</span>)</h2>
<table id="fibers"><thead><tr><th>id</th><th>name</th><th>state</th><th>priority</th></tr></thead>
<tbody></tbody></table></section>
</main>
<script>
"use strict";
const POLL_MS = Number(new URLSearchParams(location.search).get("interval")) || 1000;
const KEEP = 120;
const COLORS = ["#2b6cb0","#c05621","#2f855a","#9b2c2c","#6b46c1","#b7791f","#2c7a7b","#97266d"];
const series = {};
let prev = null, polls = 0, errors = 0, firstSwitches = null;
function push(name, v) {
  const a = series[name] || (series[name] = []);
  a.push(v);
  if (a.length > KEEP) a.shift();
}
function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return "-";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2);
}
function draw(id, names) {
  const svg = document.getElementById("c-" + id), legend = document.getElementById("l-" + id);
  let max = 0;
  for (const n of names) for (const v of series[n] || []) if (isFinite(v)) max = Math.max(max, v);
  max = max > 0 ? max * 1.1 : 1;
  const W = 460, H = 140, L = 34;
  let out = `<line x1="${L}" y1="${H - 12}" x2="${W}" y2="${H - 12}" stroke="#ccd"/>` +
            `<text class="axis" x="2" y="10">${fmt(max)}</text>` +
            `<text class="axis" x="2" y="${H - 12}">0</text>`;
  let leg = "";
  names.forEach((n, i) => {
    const a = series[n] || [], c = COLORS[i % COLORS.length];
    const pts = a.map((v, k) => `${(L + (W - L) * (k + KEEP - a.length) / (KEEP - 1)).toFixed(1)},` +
      `${((H - 12) - (H - 20) * (isFinite(v) ? v : 0) / max).toFixed(1)}`).join(" ");
    out += `<polyline data-series="${n}" data-points="${a.length}" fill="none" stroke="${c}" ` +
           `stroke-width="1.5" points="${pts}"/>`;
    leg += `<span><i style="background:${c}"></i>${n} <b class="last" data-series="${n}">` +
           `${fmt(a[a.length - 1])}</b></span>`;
  });
  svg.innerHTML = out;
  legend.innerHTML = leg;
}
function pct(counts, le, q) {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] === 0) continue;
    const lo = k === 0 ? 0 : le[k - 1];
    if (k === counts.length - 1) return lo;
    if (rank <= seen + counts[k]) return lo + (le[k] - lo) * (rank - seen) / counts[k];
    seen += counts[k];
  }
  return le[le.length - 1];
}
function histDelta(cur, old) {
  return cur.counts.map((c, i) => c - (old ? old.counts[i] : 0));
}
function update(s, f) {
  polls++;
  if (firstSwitches === null) firstSwitches = s.context_switches;
  push("active", s.active_tasks);
  push("queued", s.queued_tasks);
  push("timers", s.pending_timers);
  const dt = prev ? (s.uptime_ns - prev.uptime_ns) / 1e9 : 0;
  const rate = (k) => (prev && dt > 0 ? (s[k] - prev[k]) / dt : NaN);
  push("switches/s", rate("context_switches"));
  push("steals/s", rate("steals"));
  push("spawns/s", rate("spawned_tasks"));
  const qn = [], bn = [];
  s.workers.forEach((w, i) => {
    push("w" + i + " queue", w.queued_tasks);
    qn.push("w" + i + " queue");
    const pw = prev && prev.workers[i];
    const up = pw ? (w.busy_ns + w.park_ns) - (pw.busy_ns + pw.park_ns) : 0;
    push("w" + i + " busy", pw && up > 0 ? 100 * (w.busy_ns - pw.busy_ns) / up : NaN);
    bn.push("w" + i + " busy");
  });
  const g = s.global_queued_by_priority;
  push("global queue", g.low + g.normal + g.high + g.critical);
  qn.push("global queue");
  for (const [key, id] of [["sched_delay", "delay"], ["run_time", "run"]]) {
    const d = histDelta(s[key], prev && prev[key]), le = s[key].le_ns;
    for (const q of [50, 90, 99]) push(id + " p" + q, pct(d, le, q / 100) / 1000);
  }
  draw("tasks", ["active", "queued", "timers"]);
  draw("rates", ["switches/s", "steals/s", "spawns/s"]);
  draw("queues", qn);
  draw("busy", bn);
  draw("delay", ["delay p50", "delay p90", "delay p99"]);
  draw("run", ["run p50", "run p90", "run p99"]);
  const st = document.getElementById("status");
  st.dataset.polls = polls;
  st.dataset.switchesFirst = firstSwitches;
  st.dataset.switchesLast = s.context_switches;
  st.textContent = `poll ${polls}, every ${POLL_MS} ms`;
  document.getElementById("summary").textContent =
    `${s.worker_threads} workers, ${s.active_tasks} active tasks, ${s.context_switches} switches, ` +
    `up ${(s.uptime_ns / 1e9).toFixed(1)} s`;
  document.getElementById("fiber-count").textContent = f.count;
  const rows = f.fibers.map((x) => {
    const tr = document.createElement("tr");
    for (const v of [x.id, x.name, x.state, x.priority]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  });
  document.querySelector("#fibers tbody").replaceChildren(...rows);
  prev = s;
}
async function poll() {
  try {
    const s = await (await fetch("/stats.json", {cache: "no-store"})).json();
    const f = await (await fetch("/fibers", {cache: "no-store"})).json();
    update(s, f);
  } catch (e) {
    errors++;
    const st = document.getElementById("status");
    st.dataset.errors = errors;
    st.textContent = "error: " + e;
  }
  setTimeout(poll, POLL_MS);
}
poll();
</script></body></html>
)PAGE";

}  // namespace

std::string_view dashboard_page() noexcept {
  return kPage;
}

}  // namespace spindle::detail
