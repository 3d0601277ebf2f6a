// The dashboard's page: hand-written, small, served by cli/dashboard.ts with uPlot from node_modules.
// Nothing here loads from anywhere but the dashboard itself.

export const dashboardHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kslice dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="uplot.css"><link rel="stylesheet" href="app.css"></head>
<body>
<header><h1>kslice dashboard</h1><span id="conn" data-state="connecting">connecting…</span><span id="clock"></span></header>
<main>
<div id="hosts"></div>
<section id="sets-section"><h2>ContainerSets: replicas by host</h2><table id="sets"><thead><tr><th>set</th><th>stack</th><th>replicas</th></tr></thead><tbody></tbody></table><p id="no-sets">no ContainerSet replicas on these hosts</p></section>
<section><h2>Events</h2><ol id="events"></ol></section>
</main>
<script src="uplot.js"></script><script src="app.js"></script>
</body></html>
`;

export const dashboardCss = `
body { font: 13px/1.35 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
header { display: flex; gap: 16px; align-items: baseline; padding: 8px 16px; background: #1d232a; color: #fff; }
header h1 { font-size: 16px; margin: 0; }
#conn[data-state="live"] { color: #7ee787; } #conn[data-state="lost"] { color: #ff7b72; }
main { padding: 8px 16px; }
section.host { background: #fff; border: 1px solid #d8dce2; border-radius: 6px; margin: 0 0 12px; padding: 8px 12px; }
section.host h2 { font-size: 15px; margin: 0 0 4px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; margin-left: 6px; }
.badge[hidden] { display: none; }
.ok { background: #dafbe1; color: #116329; } .bad { background: #ffebe9; color: #a40e26; } .warn { background: #fff8c5; color: #7d4e00; }
.facts { color: #57606a; margin-bottom: 6px; } .reason { color: #a40e26; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
/* fixed layout: a changed number does not make the browser lay out the whole table again */
section.host table { table-layout: fixed; }
section.host td { overflow: hidden; text-overflow: ellipsis; }
section.host th:nth-child(1) { width: 10%; } section.host th:nth-child(2) { width: 13%; } section.host th:nth-child(3) { width: 9%; }
section.host th:nth-child(4) { width: 5%; } section.host th:nth-child(5) { width: 10%; } section.host th:nth-child(6) { width: 8%; }
section.host th:nth-child(7) { width: 6%; } section.host th:nth-child(8) { width: 8%; } section.host th:nth-child(9) { width: 19%; }
section.host th:nth-child(10) { width: 5%; } section.host th:nth-child(11) { width: 190px; }
th, td { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid #eef0f3; white-space: nowrap; vertical-align: middle; }
th { font-weight: 600; color: #57606a; font-size: 12px; }
td.num { font-variant-numeric: tabular-nums; }
tr.budget td { background: #f6f8fa; font-weight: 600; }
td[data-status="running"] { color: #116329; } td[data-status="stopped"], td[data-status="absent"] { color: #a40e26; font-weight: 600; }
td.fails[data-hot="1"] { color: #a40e26; }
.chart { width: 180px; height: 40px; }
.legend { color: #57606a; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 3px; margin: 0 3px 2px 8px; vertical-align: middle; }
#events { list-style: none; padding: 0; margin: 0; max-height: 320px; overflow: auto; font-family: ui-monospace, monospace; font-size: 12px; background: #fff; border: 1px solid #d8dce2; border-radius: 6px; }
#events li { padding: 1px 8px; border-bottom: 1px solid #eef0f3; }
#events li[data-kind="migrated"] { color: #0969da; }
#events li[data-kind="oom-kill"], #events li[data-kind="stopped"], #events li[data-kind="disk-full"], #events li[data-kind="pids-max"], #events li[data-kind="memory-max"] { color: #a40e26; }
#sets { background: #fff; }
`;

export const dashboardJs = `"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const colors = ["#0969da", "#bf3989", "#1a7f37", "#9a6700"];
  const seriesNames = ["memory", "cpu", "tasks", "disk"];
  let historyPoints = 300;
  const hosts = new Map();
  const rows = new Map();

  function bytes(n) {
    if (n === null || n === undefined) return "max";
    const units = ["B", "Ki", "Mi", "Gi", "Ti"];
    let v = n, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (v >= 100 || i === 0 ? String(Math.round(v)) : v.toFixed(1).replace(/\\.0$/, "")) + units[i];
  }
  function duration(s) {
    if (s === null || s === undefined) return "-";
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function set(e, text) { if (e.textContent !== text) e.textContent = text; }
  function attr(e, k, v) { v = String(v); if (e.getAttribute(k) !== v) e.setAttribute(k, v); }

  // Charts are drawn only while their row is on screen: 500 rows stay cheap.
  const visibility = new IntersectionObserver((entries) => {
    for (const en of entries) {
      const r = en.target.kslRow;
      r.visible = en.isIntersecting;
      if (r.visible && r.pending) apply(r, r.pending[0], r.pending[1], r.pending[2], false);
      if (r.visible && r.dirty) draw(r);
    }
  });

  function hostSection(h) {
    let s = hosts.get(h.id);
    if (s) return s;
    const sec = el("section", { class: "host", "data-host": h.label });
    const title = el("h2");
    const name = el("span", { class: "name" });
    const badge = el("span", { class: "badge reach" });
    // the Host's draining record on the host (cli/model.ts, drainingStacks)
    const drain = el("span", { class: "badge draining warn" }, "draining");
    drain.hidden = true;
    title.append(name, badge, drain);
    const facts = el("div", { class: "facts" });
    const reason = el("div", { class: "reason" });
    const legend = el("div", { class: "legend" });
    seriesNames.forEach((n, i) => { const sw = el("i"); sw.style.background = colors[i]; legend.append(sw, document.createTextNode(n)); });
    legend.append(document.createTextNode(" — % of each limit (memory without one: of the host; cpu: of the limit, else of the host's CPUs)"));
    const table = el("table");
    const head = el("tr");
    for (const c of ["name", "status", "address", "uptime", "memory", "cpu", "tasks", "disk", "fail counters", "restarts", "last minutes"]) head.append(el("th", {}, c));
    head.children[8].title = "oom: OOM kills · pids: pids.max hits · max: memory.max hits · high: memory.high events (v2) · thr: throttled periods";
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    table.append(body);
    sec.append(title, facts, reason, legend, table);
    document.getElementById("hosts").append(sec);
    s = { sec, name, badge, drain, facts, reason, body, order: "" };
    hosts.set(h.id, s);
    return s;
  }

  function makeRow(key, kind) {
    const tr = el("tr", { class: kind, "data-key": key });
    const cells = {};
    for (const c of ["name", "status", "address", "uptime", "mem", "cpu", "tasks", "disk", "fails", "restarts", "chart"]) {
      cells[c] = el("td", { class: c + (["mem", "cpu", "tasks", "disk", "uptime", "restarts"].includes(c) ? " num" : "") });
      tr.append(cells[c]);
    }
    const box = el("div", { class: "chart" });
    cells.chart.append(box);
    const r = { key, tr, cells, box, plot: null, points: [], limits: null, visible: false, dirty: true, pending: null };
    tr.kslRow = r;
    visibility.observe(tr);
    rows.set(key, r);
    return r;
  }

  function percent(v, max) { return v === null || v === undefined || !max ? null : Math.round((v / max) * 1000) / 10; }

  function draw(r) {
    r.dirty = false;
    const L = r.limits, p = r.points;
    const data = [p.map((x) => x[0]), p.map((x) => percent(x[1], L.mem)), p.map((x) => percent(x[2], L.cpu)), p.map((x) => percent(x[3], L.tasks)), p.map((x) => percent(x[4], L.disk))];
    if (!r.plot) {
      r.plot = new uPlot({
        width: 180, height: 40, legend: { show: false }, cursor: { show: false }, select: { show: false },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: true }, y: { auto: false, range: [0, 100] } },
        series: [{}].concat(seriesNames.map((n, i) => ({ label: n, stroke: colors[i], width: 1, points: { show: false } }))),
      }, data, r.box);
    } else {
      r.plot.setData(data);
    }
  }

  function failText(f) {
    const parts = ["oom " + f.oomKills, "pids " + f.pidsMaxHits, "max " + f.memoryMaxEvents];
    if (f.memoryHighEvents !== null) parts.push("high " + f.memoryHighEvents);
    parts.push("thr " + f.cpuThrottledPeriods);
    return parts.join(" · ");
  }

  function fill(r, u, host, facts) {
    const c = r.cells;
    const mem = c.mem;
    attr(mem, "data-current", u.memory.currentBytes);
    attr(mem, "data-max", u.memory.maxBytes === null ? "max" : u.memory.maxBytes);
    set(mem, bytes(u.memory.currentBytes) + " / " + bytes(u.memory.maxBytes));
    set(c.cpu, (u.cpu.percent === null ? "-" : u.cpu.percent.toFixed(0) + "%") + " / " + (u.cpu.maxCores === null ? "max" : u.cpu.maxCores + " cores"));
    attr(c.tasks, "data-current", u.pids.current);
    set(c.tasks, u.pids.current + " / " + (u.pids.max === null ? "max" : u.pids.max));
    const f = u.failures;
    set(c.fails, failText(f));
    attr(c.fails, "data-hot", f.oomKills || f.pidsMaxHits || f.memoryMaxEvents ? 1 : 0);
    r.limits = {
      mem: u.memory.maxBytes || (facts ? facts.memoryBytes : null),
      cpu: u.cpu.maxCores ? u.cpu.maxCores * 100 : (facts ? facts.cpus * 100 : null),
      tasks: u.pids.max,
      disk: u.disk ? u.disk.maxBytes : null,
    };
    r.dirty = true;
  }

  function pushPoint(r, p) {
    r.points.push(p);
    if (r.points.length > historyPoints) r.points.splice(0, r.points.length - historyPoints);
    r.dirty = true;
    if (r.visible) draw(r);
  }

  function apply(r, it, h, f, fresh) {
    r.pending = null;
    const cells = r.cells;
    if (it.kind === "budget") {
      const b = it.b;
      if (fresh) {
        attr(r.tr, "data-name", b.path);
        cells.name.style.paddingLeft = (b.path.split("/").length - 1) * 14 + "px";
        set(cells.name, b.path.split("/").pop() + "/");
        set(cells.status, "budget");
        set(cells.address, "-"); set(cells.uptime, "-"); set(cells.disk, "-"); set(cells.restarts, "-");
      }
      fill(r, b, h, f);
      return;
    }
    const c = it.c;
    if (fresh) {
      attr(r.tr, "data-name", c.name);
      cells.name.style.paddingLeft = (c.cgroup ? c.cgroup.split("/").length - 1 : 0) * 14 + "px";
      set(cells.name, c.name);
    }
    attr(cells.status, "data-status", c.status);
    set(cells.status, c.status + (c.pid ? " (pid " + c.pid + ")" : "") + (c.damaged.length ? " DAMAGED" : ""));
    const addrs = Object.entries(c.addresses).map(([n, a]) => a + " (" + n + ")").concat(c.ports);
    set(cells.address, addrs.length ? addrs.join(", ") : "-");
    set(cells.uptime, duration(c.uptimeSeconds));
    set(cells.disk, c.disk ? bytes(c.disk.usedBytes) + " / " + bytes(c.disk.maxBytes) + (c.disk.full ? " FULL" : "") : "-");
    set(cells.restarts, String(c.restarts));
    const m = c.lastMigration;
    attr(cells.name, "title", m ? "migrated here from " + m.from + " at " + m.at : "");
    fill(r, c, h, f);
  }

  function renderHost(h, history) {
    const s = hostSection(h);
    set(s.name, h.label + " — prefix " + h.prefix);
    attr(s.sec, "data-reachable", h.reachable ? "yes" : "no");
    attr(s.sec, "data-empty", h.empty ? "yes" : "no");
    s.badge.className = "badge reach " + (h.reachable ? (h.empty ? "warn" : "ok") : "bad");
    set(s.badge, h.reachable ? (h.empty ? "empty prefix" : "reachable") : "unreachable");
    set(s.reason, h.reason || "");
    const draining = !!(h.view && h.view.draining);
    attr(s.sec, "data-draining", draining ? "yes" : "no");
    s.drain.hidden = !draining;
    attr(s.drain, "title", draining ? "declared draining by the Host of " + h.view.drainingStacks.join(", ") + ": its ContainerSets place no replica here" : "");
    const f = h.facts;
    set(s.facts, f ? [f.hostname, "kernel " + f.kernel, "cgroup v" + f.cgroupVersion, f.runtime, f.cpus + " CPUs", bytes(f.memoryBytes) + " memory",
      f.disk ? "disk " + bytes(f.disk.usedBytes) + " / " + bytes(f.disk.sizeBytes) + " used" : "disk -"].join(" · ") : "");
    const v = h.view;
    const seen = new Set();
    const order = [];
    if (v) {
      const t = Date.parse(v.sampledAt) / 1000;
      const items = [];
      for (const b of v.budgets) items.push({ sort: b.path + "/", kind: "budget", b });
      for (const c of v.containers) items.push({ sort: (c.cgroup || c.name), kind: "container", c });
      items.sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0));
      for (const it of items) {
        const id = it.kind === "budget" ? "b:" + it.b.path : "c:" + it.c.name;
        const key = h.id + "/" + id;
        seen.add(key);
        order.push(key);
        let r = rows.get(key);
        const fresh = !r;
        if (!r) r = makeRow(key, it.kind);
        // off-screen rows keep their last reading and are filled when they come on screen
        if (fresh || r.visible) apply(r, it, h, f, fresh); else r.pending = [it, h, f];
        const u = it.kind === "budget" ? it.b : it.c;
        if (fresh && history && history[id]) r.points = history[id].slice();
        else pushPoint(r, [t, u.memory.currentBytes, u.cpu.percent, u.pids.current, u.disk ? u.disk.usedBytes : null]);
        if (fresh) { r.dirty = true; if (r.visible) draw(r); }
      }
    }
    for (const [key, r] of rows) {
      if (key.startsWith(h.id + "/") && !seen.has(key)) {
        visibility.unobserve(r.tr);
        if (r.plot) r.plot.destroy();
        r.tr.remove();
        rows.delete(key);
      }
    }
    const joined = order.join("\\n");
    if (joined !== s.order) {
      s.order = joined;
      const frag = document.createDocumentFragment();
      for (const key of order) frag.append(rows.get(key).tr);
      s.body.append(frag);
    }
  }

  // A replica of a ContainerSet is a Container whose URN has the set in its type chain; it is named <set>-<i>.
  function renderSets(all) {
    const sets = new Map();
    for (const h of all) {
      if (!h.view) continue;
      for (const c of h.view.containers) {
        // urn:pulumi:<stack>::<project>::<parent types $ type>::<name>; a type holds ":" itself
        const parts = (c.owner || "").split("::");
        if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:") || !parts[2].split("$").includes("kslice:index:ContainerSet")) continue;
        const setName = parts.slice(3).join("::").replace(/-\\d+$/, "");
        const stack = parts[1] + "/" + parts[0].slice("urn:pulumi:".length);
        const k = stack + " " + setName;
        if (!sets.has(k)) sets.set(k, { name: setName, stack, replicas: [] });
        sets.get(k).replicas.push(c.name + " on " + h.label + " (" + c.status + ")");
      }
    }
    const body = document.querySelector("#sets tbody");
    const html = [...sets.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => [s.name, s.stack, s.replicas.sort().join(", ")]);
    const text = JSON.stringify(html);
    if (body.dataset.text === text) return;
    body.dataset.text = text;
    body.replaceChildren(...html.map((cols) => { const tr = el("tr"); for (const c of cols) tr.append(el("td", {}, c)); return tr; }));
    document.getElementById("no-sets").hidden = html.length > 0;
  }

  const eventList = () => document.getElementById("events");
  function addEvents(evs) {
    const list = eventList();
    for (const e of evs) {
      const li = el("li", { "data-kind": e.kind, "data-name": e.name, "data-host": e.host }, e.at + "  " + e.host + "  " + e.object + " " + e.name + "  " + e.kind + "  " + e.detail);
      list.prepend(li);
    }
    while (list.children.length > 300) list.lastChild.remove();
  }

  // Timings for bench/dashboard.ts: the update's script time, and until the frame after it (layout and paint).
  const timings = { updates: 0, lastUpdateMs: 0, scriptMs: [], frameMs: [] };
  window.kslDashboard = timings;
  function update(hs, history, t0) {
    hs.forEach((h, i) => renderHost(h, history ? history[i] : null));
    renderSets(hs);
    document.getElementById("clock").textContent = hs.length && hs[0].view ? "sampled " + hs[0].view.sampledAt : "";
    timings.updates++;
    timings.lastUpdateMs = performance.now() - t0;
    timings.scriptMs.push(timings.lastUpdateMs);
    requestAnimationFrame(() => setTimeout(() => timings.frameMs.push(performance.now() - t0), 0));
    if (timings.scriptMs.length > 600) { timings.scriptMs.shift(); timings.frameMs.shift(); }
  }

  const source = new EventSource("events" + query);
  const conn = document.getElementById("conn");
  source.addEventListener("init", (m) => {
    const t0 = performance.now();
    const s = JSON.parse(m.data);
    historyPoints = s.historyPoints;
    eventList().replaceChildren();
    addEvents(s.events);
    update(s.hosts, s.history, t0);
    conn.dataset.state = "live"; conn.textContent = "live";
  });
  source.addEventListener("tick", (m) => {
    const t0 = performance.now();
    const s = JSON.parse(m.data);
    addEvents(s.events);
    update(s.hosts, null, t0);
  });
  source.onerror = () => { conn.dataset.state = "lost"; conn.textContent = "connection lost, retrying…"; };
})();
`;
