// The Cacheplane console: a page of the daemon, no library. Everything shown is read after a login from the
// console's JSON (api/list, api/groups/<id>, api/clusters/<id>) and from the ElastiCache API itself (api/action,
// XML), and every action is an API request — so the console shows AWS's answers and errors as they are.
"use strict";

const POLL_MS = 2000;
const main = document.getElementById("main");
let timer = null;
let session = null;
// Bumped on every navigation: a page's pending refresh stops once another page is shown.
let generation = 0;

// ---- small helpers -------------------------------------------------------------------------------------------

// An element with attributes and children (strings become text: nothing here is parsed as HTML).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    // Through the CSSOM: the page's policy refuses style attributes.
    else if (k === "style") for (const d of v.split(";")) { const [p, x] = d.split(":"); if (x) el.style.setProperty(p.trim(), x.trim()); }
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function badge(text, cls) {
  return h("span", { class: "badge " + (cls || String(text).replace(/\s+/g, "-")) }, text);
}

function stop() {
  if (timer) clearTimeout(timer);
  timer = null;
}

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function showConn(ok) {
  document.getElementById("conn").textContent = ok ? "" : "daemon not answering — retrying";
}

// A request to the console; a daemon that does not answer, or a session that ended, is said in the page.
async function send(path, init) {
  let r;
  try {
    r = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, init));
  } catch (e) {
    showConn(false);
    throw new ApiError("Unreachable", "The daemon is not answering.", 0);
  }
  showConn(true);
  if (r.status === 401) {
    login();
    throw new ApiError("NotLoggedIn", "Log in first.", 401);
  }
  return r;
}

async function getJson(path) {
  const r = await send(path);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(body.code || "Error", body.message || r.statusText, r.status);
  return body;
}

// An ElastiCache action (a Query request), answered with the API's XML document.
async function act(params) {
  const r = await send("api/action", {
    method: "POST",
    headers: { "X-Console": "1", "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(Object.assign({ Version: "2015-02-02" }, params)).toString(),
  });
  const text = await r.text();
  const doc = new DOMParser().parseFromString(text, "text/xml");
  if (!r.ok) {
    throw new ApiError(t(doc.documentElement, "Error/Code") || "Error",
      t(doc.documentElement, "Error/Message") || text, r.status);
  }
  return doc.documentElement;
}

// The first descendant along a path of element names ("NodeGroups/NodeGroup/PrimaryEndpoint").
function el(node, path) {
  let cur = node;
  for (const name of path.split("/")) {
    if (!cur) return null;
    cur = Array.from(cur.children).find((c) => c.localName === name) ||
      (cur.getElementsByTagName(name)[0] || null);
  }
  return cur;
}

function t(node, path) {
  const e = el(node, path);
  return e ? e.textContent : "";
}

function all(node, name) {
  return node ? Array.from(node.getElementsByTagName(name)) : [];
}

function errorBox(e) {
  return h("div", { class: "error", role: "alert" }, h("b", {}, e.code || "Error"), ": ", e.message);
}

// A confirmation: `word`, when given, must be typed (the dialog says which); without it a plain confirm whose
// button says what it does (`ok`).
// "Create snapshot" of a replication group or a cache cluster (`source`: the request's member naming it).
function snapshotButton(ctx, id, source) {
  return h("button", {
    id: "snapshot", type: "button",
    onclick: async () => {
      const name = `${id}-console-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
      if (await confirmDialog("Create snapshot", `Take snapshot ${name} of ${id}?`, null, "Create snapshot")) {
        ctx.run("CreateSnapshot", { Action: "CreateSnapshot", ...source, SnapshotName: name });
      }
    },
  }, "Create snapshot");
}

function confirmDialog(title, text, word, ok) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-word").textContent = word || "";
  document.getElementById("confirm-label").hidden = !word;
  document.getElementById("confirm-ok").textContent = ok || "Confirm";
  const input = document.getElementById("confirm-input");
  input.value = "";
  input.required = !!word;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok" && (!word || input.value === word)), { once: true });
    d.showModal();
    (word ? input : document.getElementById("confirm-ok")).focus();
  });
}

// "true"/"false" as people say it: `yes`/`no` by default, or the words given ("enabled"/"disabled").
function word(v, yes, no) {
  if (v === "true" || v === true) return yes || "yes";
  if (v === "false" || v === false) return no || "no";
  return v;
}

// An identifier (ARN, node id, address, slot range): monospace, never broken inside.
function code(text, cls) {
  return h("code", { class: "id" + (cls ? " " + cls : "") }, text);
}

// An ARN, which may break after its colons (never inside a part).
function arn(text) {
  const parts = text.split(":").map((part, i, a) => h("span", { class: "nowrap" }, part + (i < a.length - 1 ? ":" : "")));
  return h("code", { class: "id arn" }, parts.flatMap((p, i) => i ? [h("wbr", {}), p] : [p]));
}

// A name made of parts (a parameter group's `default.redis7.cluster.on`) that may break after a dot only.
function dotted(text) {
  const parts = text.split(".").map((part, i, a) => h("span", { class: "nowrap" }, part + (i < a.length - 1 ? "." : "")));
  return h("code", { class: "id dotted" }, parts.flatMap((p, i) => i ? [h("wbr", {}), p] : [p]));
}

// Text whose words with hyphens, dots or colons (ids, zones, addresses in an event's message) are kept whole.
function keepWords(text) {
  return text.split(/(\s+)/).map((w) => /[-:.]/.test(w) ? h("span", { class: "nowrap" }, w) : w);
}

// Identifiers one after the other, separated where a line may break.
function codes(list, cls) {
  const out = [];
  list.forEach((x, i) => { if (i) out.push(", "); out.push(code(x, cls)); });
  return out.length ? out : "–";
}

// ---- login ---------------------------------------------------------------------------------------------------

function login(message) {
  stop();
  session = null;
  document.getElementById("logout").hidden = true;
  document.getElementById("logout-all").hidden = true;
  const err = h("div", {});
  if (message) err.append(h("div", { class: "notice" }, message));
  const form = h("form", { class: "panel login", id: "login-form" },
    h("h2", {}, "Log in to Cacheplane"),
    h("p", { class: "muted" }, "With the API's access key pair (as in your AWS CLI profile), or the console password set when the daemon started."),
    h("label", { for: "access_key_id" }, "Access key ID"),
    h("input", { id: "access_key_id", name: "access_key_id", autocomplete: "username" }),
    h("label", { for: "secret_access_key" }, "Secret access key"),
    h("input", { id: "secret_access_key", name: "secret_access_key", type: "password", autocomplete: "current-password" }),
    h("p", { class: "or" }, "or"),
    h("label", { for: "password" }, "Console password"),
    h("input", { id: "password", name: "password", type: "password" }),
    err,
    h("p", {}, h("button", { type: "submit", class: "primary", id: "login-button" }, "Log in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const k of ["access_key_id", "secret_access_key", "password"]) body[k] = form.elements[k].value;
    err.replaceChildren();
    const r = await fetch("login", {
      method: "POST", credentials: "same-origin",
      headers: { "X-Console": "1", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).catch(() => null);
    if (r && r.ok) {
      route();
    } else {
      const b = r ? await r.json().catch(() => ({})) : { code: "Unreachable", message: "The daemon is not answering." };
      err.append(errorBox(b));
    }
  });
  main.replaceChildren(form);
}

document.getElementById("logout").addEventListener("click", async () => {
  await fetch("logout", { method: "POST", credentials: "same-origin", headers: { "X-Console": "1" } });
  login("Logged out.");
});

document.getElementById("logout-all").addEventListener("click", async () => {
  const r = await fetch("logout-all", { method: "POST", credentials: "same-origin", headers: { "X-Console": "1" } }).catch(() => null);
  login(r && r.ok ? "Logged out everywhere: every session of this console has ended." : "The sessions could not be ended; the daemon's log says why.");
});

// ---- the list ------------------------------------------------------------------------------------------------

async function listPage() {
  const my = generation;
  const table = h("tbody", {});
  const err = h("div", {});
  main.replaceChildren(
    h("h1", {}, "Replication groups and clusters"),
    h("div", { class: "actions" },
      h("button", { class: "primary", id: "create", onclick: () => { location.hash = "#/create"; } }, "Create replication group")),
    err,
    h("section", { class: "panel" },
      h("table", { id: "groups" },
        h("thead", {}, h("tr", {}, ["ID", "Kind", "Status", "Engine", "Node type", "Cluster mode", "Shards", "Nodes"].map((c) => h("th", {}, c)))),
        table)));
  const tick = async () => {
    try {
      const entries = await getJson("api/list");
      err.replaceChildren();
      table.replaceChildren(...entries.map((e) => {
        const href = (e.kind === "replication-group" ? "#/groups/" : "#/clusters/") + encodeURIComponent(e.id);
        return h("tr", { class: "link", "data-id": e.id, "data-kind": e.kind, onclick: () => { location.hash = href; } },
        h("td", {}, h("a", { href }, code(e.id))),
        h("td", {}, e.kind),
        h("td", { class: "status" }, badge(e.status)),
        h("td", {}, e.engine + " " + e.engine_version),
        h("td", {}, e.cache_node_type),
        h("td", {}, e.cluster_mode || "–"),
        h("td", {}, e.shards || "–"),
        h("td", {}, e.nodes));
      }));
      if (entries.length === 0) {
        table.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "Nothing yet: create a replication group.")));
      }
      document.body.dataset.loaded = "list";
      // For the page-load benchmark: when the list was first drawn with its data, since navigation began.
      if (!performance.getEntriesByName("list-rendered").length) performance.mark("list-rendered");
    } catch (e) {
      if (e.status === 401) return;
      err.replaceChildren(errorBox(e));
    }
    if (my === generation) timer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

// ---- the create form -----------------------------------------------------------------------------------------

function createPage() {
  const err = h("div", {});
  const row = (label, input, hint) => [h("label", { for: input.id }, label), input, hint ? h("div", { class: "hint" }, hint) : null];
  const text = (name, value, attrs) => h("input", Object.assign({ type: "text", id: name, name, value: value || "" }, attrs || {}));
  const number = (name, value, min, max) => h("input", { type: "number", id: name, name, value, min, max });
  const check = (name, on) => h("input", { type: "checkbox", id: name, name, checked: on });
  const select = (name, options, value) => h("select", { id: name, name },
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
  const mode = select("ClusterMode", ["disabled", "enabled"], "disabled");
  const shards = number("NumNodeGroups", 3, 1, 500);
  const shardRow = row("Shards", shards, "Node groups, with cluster mode enabled.");
  const form = h("form", { class: "create", id: "create-form" },
    row("Replication group ID", text("ReplicationGroupId", "", { required: true, maxlength: 40, placeholder: "my-cache" }),
      "1–40 letters, digits or hyphens, starting with a letter."),
    row("Description", text("ReplicationGroupDescription", "Created in the Cacheplane console", { required: true })),
    row("Engine", select("Engine", ["redis", "valkey"], "redis")),
    row("Engine version", text("EngineVersion", "", { placeholder: "the newest this daemon has" })),
    row("Node type", select("CacheNodeType", ["cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium", "cache.m7g.large", "cache.r7g.large"], "cache.t4g.micro")),
    row("Cluster mode", mode),
    shardRow,
    row("Replicas per shard", number("ReplicasPerNodeGroup", 2, 0, 5)),
    row("Port", number("Port", 6379, 1024, 65535)),
    row("Multi-AZ", check("MultiAZEnabled", true)),
    row("Automatic failover", check("AutomaticFailoverEnabled", true)),
    row("Encryption in transit (TLS)", check("TransitEncryptionEnabled", false)),
    h("div", { class: "hint wide", id: "at-rest-note" }, "Encryption at rest is not offered: the API refuses AtRestEncryptionEnabled (Cacheplane does not implement encryption at rest in this version)."),
    row("Parameter group", text("CacheParameterGroupName", "", { placeholder: "the engine's default group" })),
    row("Snapshot retention (days)", number("SnapshotRetentionLimit", 0, 0, 35)),
    row("Tags", text("Tags", "", { placeholder: "team=payments, env=dev" })),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "create-submit" }, "Create"),
      h("button", { type: "button", onclick: () => { location.hash = "#/"; } }, "Cancel")));
  const showShards = () => shardRow.forEach((e) => { if (e) e.hidden = mode.value !== "enabled"; });
  mode.addEventListener("change", showShards);
  showShards();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    const f = form.elements;
    const p = { Action: "CreateReplicationGroup" };
    for (const k of ["ReplicationGroupId", "ReplicationGroupDescription", "Engine", "EngineVersion", "CacheNodeType", "Port", "CacheParameterGroupName", "SnapshotRetentionLimit"]) {
      if (f[k].value.trim() !== "") p[k] = f[k].value.trim();
    }
    for (const k of ["MultiAZEnabled", "AutomaticFailoverEnabled", "TransitEncryptionEnabled"]) {
      p[k] = f[k].checked ? "true" : "false";
    }
    if (f.ClusterMode.value === "enabled") {
      p.ClusterMode = "enabled";
      p.NumNodeGroups = f.NumNodeGroups.value;
      p.ReplicasPerNodeGroup = f.ReplicasPerNodeGroup.value;
    } else {
      p.NumCacheClusters = String(Number(f.ReplicasPerNodeGroup.value) + 1);
    }
    f.Tags.value.split(",").map((s) => s.trim()).filter(Boolean).forEach((kv, i) => {
      const [k, ...v] = kv.split("=");
      p[`Tags.Tag.${i + 1}.Key`] = k.trim();
      p[`Tags.Tag.${i + 1}.Value`] = v.join("=").trim();
    });
    const button = document.getElementById("create-submit");
    button.disabled = true;
    try {
      const doc = await act(p);
      location.hash = "#/groups/" + encodeURIComponent(t(doc, "ReplicationGroup/ReplicationGroupId"));
    } catch (e) {
      err.replaceChildren(errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(
    h("h1", {}, "Create replication group"),
    h("p", { class: "muted" }, "The form starts from CreateReplicationGroup's defaults; it is sent to the ElastiCache API as it is."),
    err,
    h("section", { class: "panel" }, form));
  document.body.dataset.loaded = "create";
}

// ---- charts --------------------------------------------------------------------------------------------------

// A node's line: its own colour and dash, so that nodes drawing the same values (an idle group's zeros) stay
// told apart, and the legend shows which is which.
const COLOURS = ["#0972d3", "#037f0c", "#d91515", "#8d6605", "#7d4ccf", "#00848f", "#e07941", "#545b64"];
const DASHES = ["", "7 4", "2 3", "10 3 2 3"];

function lineStyle(i) {
  return { stroke: COLOURS[i % COLOURS.length], dash: DASHES[i % DASHES.length] };
}

// The top of a y axis for values up to `v`: the smallest 1, 2 or 5 × 10^k at least `v` (at least `floor`), or for
// bytes the smallest power of two of B, KiB, MiB or GiB.
function niceMax(v, isBytes, floor) {
  v = Math.max(v || 0, floor || 0);
  if (!(v > 0)) return 1;
  if (isBytes) {
    let unit = 1;
    while (v >= unit * 1024 && unit < Math.pow(1024, 3)) unit *= 1024;
    let m = 1;
    while (m * unit < v) m *= 2;
    return m * unit;
  }
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// A time of day for the x axis, with its seconds when the chart spans only minutes.
function clock(unix, seconds) {
  const d = new Date(unix * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return two(d.getHours()) + ":" + two(d.getMinutes()) + (seconds ? ":" + two(d.getSeconds()) : "");
}

function svgText(x, y, text, anchor, cls) {
  const e = svg("text", { x, y, "text-anchor": anchor || "start", class: cls || "" });
  e.textContent = text;
  return e;
}

// A chart of the last hour (or less, while there is less): a line a node, y axis in `unit` (its ticks formatted
// by `format`), time on the x axis, a legend naming each node's line.
function chart(title, id, series, format, unit, note, isBytes) {
  const W = 360, H = 170, L = 62, R = 10, T = 10, B = 26;
  const pw = W - L - R, ph = H - T - B;
  const now = Date.now() / 1000;
  const first = Math.min(now, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const from = Math.max(now - 3600, Math.min(first, now - 60));
  const span = now - from;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))), isBytes, isBytes ? 1024 : 1);
  const x = (at) => L + (at - from) / span * pw;
  const y = (v) => T + ph - v / top * ph;
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}, ${unit}`, class: "plot" });
  const yAxis = svg("g", { class: "axis axis-y" });
  for (const f of [0, 0.5, 1]) {
    yAxis.append(svg("line", { x1: L, x2: W - R, y1: y(top * f), y2: y(top * f), class: f ? "grid" : "base" }));
    yAxis.append(svgText(L - 5, y(top * f) + 4, format(top * f), "end"));
  }
  yAxis.append(svg("line", { x1: L, x2: L, y1: T, y2: T + ph, class: "base" }));
  const xAxis = svg("g", { class: "axis axis-x" });
  for (const f of [0, 0.5, 1]) {
    const at = from + span * f;
    xAxis.append(svg("line", { x1: x(at), x2: x(at), y1: T + ph, y2: T + ph + 4, class: "base" }));
    xAxis.append(svgText(x(at), H - 8, clock(at, span < 600), f === 0 ? "start" : f === 1 ? "end" : "middle"));
  }
  box.append(yAxis, xAxis);
  series.forEach((s, i) => {
    const st = lineStyle(i);
    const pts = s.points.filter((p) => p[0] >= from).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    if (pts.length === 1) pts.push(pts[0]);
    if (pts.length) {
      box.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: st.stroke, "stroke-width": 1.8,
        "stroke-dasharray": st.dash, "data-node": s.name }));
    }
  });
  const sample = (i) => {
    const st = lineStyle(i);
    const e = svg("svg", { viewBox: "0 0 24 6", width: 24, height: 6, class: "swatch" });
    e.append(svg("line", { x1: 0, x2: 24, y1: 3, y2: 3, stroke: st.stroke, "stroke-width": 2.5, "stroke-dasharray": st.dash }));
    return e;
  };
  return h("div", { class: "chart", id },
    h("h4", {}, title, h("span", { class: "unit" }, ` (${unit})`)),
    box,
    h("div", { class: "legend" },
      series.map((s, i) => h("span", { "data-node": s.name }, sample(i), code(s.name)))),
    note ? h("p", { class: "muted note" }, note) : null);
}

function rate(v) {
  if (v === null || v === undefined) return "–";
  return (v >= 100 ? Math.round(v).toLocaleString("en") : v >= 10 ? v.toFixed(0) : v ? v.toFixed(1) : "0") + "/s";
}

// The last hour's charts of a page's nodes; `names` tells what each series is called in the legend.
function chartsPanel(page, names, memcached, lag) {
  const pts = (s, key) => s.at.map((a, i) => [a, s[key][i]]).filter((p) => p[1] !== null && p[1] !== undefined);
  const series = (key) => page.series.map((s) => ({ name: names(s), points: pts(s, key) }));
  const own = page.series.flatMap((s) => s.control_ops_per_second.slice(-1)).filter((v) => v !== null && v !== undefined);
  const ownNow = own.length ? own.reduce((a, b) => a + b, 0) / own.length : null;
  const opsNote = memcached
    ? "get, set, touch and flush commands from each node's stats (the control plane's stats and version reads are not among them)."
    : "Commands from clients: each node's INFO total_commands_processed less the commands the control plane sent it " +
      `(health-check PING, INFO, the reconciler's reads${ownNow === null ? "" : `: ${rate(ownNow)} a node now`}) and ` +
      "replication's own REPLCONF acknowledgements. A replica also counts the writes it receives from its primary.";
  const charts = [
    chart(memcached ? "Commands per second" : "Clients' commands per second", "chart-ops", series("ops_per_second"), rate, "commands a second", opsNote),
    chart("Memory used", "chart-memory", series("used_memory_bytes"), bytes, "bytes", null, true),
  ];
  if (lag) charts.push(chart("Replication lag", "chart-lag", series("lag_bytes"), bytes, "bytes behind the primary", null, true));
  return h("section", { class: "panel" }, h("h2", {}, "Last hour"), h("div", { class: "charts" }, charts),
    h("p", { class: "muted" }, `A point every ${page.interval_seconds} s, read from each node ${memcached ? "(stats)" : "(INFO)"}.`));
}

// ---- pieces of a page ----------------------------------------------------------------------------------------

function progressBar(op, id) {
  const known = op.percent !== null && op.percent !== undefined;
  const said = known && !op.label.includes("%") ? ` (${op.percent.toFixed(0)}%)` : "";
  return h("div", { class: "progress", "data-kind": op.kind, id },
    h("div", { class: "label" }, h("b", {}, op.kind), " — ", op.label, said),
    h("div", { class: "bar" }, h("div", known ? { style: `width:${Math.min(100, op.percent)}%` } : { class: "unknown" })));
}

function endpointsOf(g) {
  const out = [];
  const addr = (e) => e && t(e, "Address") ? `${t(e, "Address")}:${t(e, "Port")}` : null;
  const ce = el(g, "ConfigurationEndpoint");
  if (ce && t(ce, "Address")) out.push({ name: "Configuration endpoint", host: t(ce, "Address"), port: t(ce, "Port"), cluster: true });
  for (const ng of all(el(g, "NodeGroups"), "NodeGroup")) {
    const pe = el(ng, "PrimaryEndpoint"), re = el(ng, "ReaderEndpoint");
    if (addr(pe)) out.push({ name: "Primary endpoint", host: t(pe, "Address"), port: t(pe, "Port") });
    if (addr(re)) out.push({ name: "Reader endpoint", host: t(re, "Address"), port: t(re, "Port") });
  }
  return out;
}

function copyRow(label, s) {
  return h("div", { class: "conn-string" },
    h("span", { class: "muted", style: "width:210px" }, label),
    h("code", { class: "connection" }, s),
    h("button", { class: "small", type: "button", onclick: (ev) => { navigator.clipboard && navigator.clipboard.writeText(s); ev.target.textContent = "Copied"; } }, "Copy"));
}

// redis-cli and URL strings for each endpoint; `g` a ReplicationGroup or a CacheCluster of the API.
function connectionStrings(g, endpoints) {
  const tls = t(g, "TransitEncryptionEnabled") === "true";
  const auth = t(g, "AuthTokenEnabled") === "true";
  const users = all(el(g, "UserGroupIds"), "member").length > 0;
  const rows = [];
  for (const e of endpoints) {
    const cli = ["redis-cli", "-h", e.host, "-p", e.port];
    if (e.cluster) cli.push("-c");
    if (tls) cli.push("--tls", "--cacert", "cacheplane-ca.pem");
    if (users) cli.push("--user", "<user>", "--askpass");
    else if (auth) cli.push("--askpass");
    const cred = users ? "<user>:<password>@" : auth ? ":<auth-token>@" : "";
    const url = `${tls ? "rediss" : "redis"}://${cred}${e.host}:${e.port}`;
    rows.push(copyRow(`${e.name} (redis-cli)`, cli.join(" ")), copyRow(`${e.name} (URL)`, url));
  }
  if (tls) rows.push(h("p", {}, h("a", { href: "api/ca.pem", download: "cacheplane-ca.pem", id: "ca-download" }, "Download the CA bundle"), " (cacheplane-ca.pem) that signs every node's certificate."));
  if (auth || users) rows.push(h("p", { class: "muted" }, "Credentials are never shown here: redis-cli asks for them (--askpass)."));
  return rows;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v === null || v === undefined ? "–" : v)]));
}

// Log delivery configurations (and those being changed) of a group or cluster: a line each.
function logsPanel(x) {
  const one = (l, pending) => {
    const cw = t(l, "DestinationType") === "cloudwatch-logs";
    const dest = cw ? t(l, "DestinationDetails/CloudWatchLogsDetails/LogGroup") : t(l, "DestinationDetails/KinesisFirehoseDetails/DeliveryStream");
    return h("li", { "data-log-type": t(l, "LogType") },
      code(t(l, "LogType")), " to ", cw ? "log group " : "delivery stream ", code(dest), ` (${t(l, "DestinationType")}, ${t(l, "LogFormat")}) `,
      badge(pending ? "change pending" : t(l, "Status"), pending ? "modifying" : t(l, "Status")),
      t(l, "Message") ? h("div", { class: "muted" }, t(l, "Message")) : null);
  };
  const current = x ? all(el(x, "LogDeliveryConfigurations"), "LogDeliveryConfiguration") : [];
  const pending = x ? all(el(el(x, "PendingModifiedValues"), "LogDeliveryConfigurations"), "member") : [];
  return h("section", { class: "panel", id: "logs" }, h("h2", {}, "Log delivery"),
    !x ? h("p", { class: "muted" }, "…")
      : current.length || pending.length ? h("ul", { class: "logs" }, current.map((l) => one(l, false)), pending.map((l) => one(l, true)))
        : h("p", { class: "muted" }, "No log delivery configured (slow log and engine log: ModifyReplicationGroup LogDeliveryConfigurations)."));
}

function eventsPanel(events) {
  return h("section", { class: "panel" }, h("h2", {}, "Events"),
    h("ol", { class: "events", id: "events" }, events.length ? events.map((e) =>
      h("li", {}, h("time", { datetime: e.date }, e.date.replace("T", " ").replace(/\.\d+Z$/, "Z")), code(e.source, "source"), ": ", keepWords(e.message)))
      : h("li", { class: "muted" }, "No events in the last day.")));
}

function eventList(docs, members) {
  return docs.flatMap((d) => all(el(d, "Events"), "Event"))
    .map((e) => ({ source: t(e, "SourceIdentifier"), message: t(e, "Message"), date: t(e, "Date") }))
    .filter((e) => members.has(e.source.toLowerCase()))
    .sort((a, b) => b.date.localeCompare(a.date));
}

function tagsPanel(tags) {
  return h("section", { class: "panel", id: "tags" }, h("h2", {}, "Tags"), tags && tags.length
    ? kv(tags) : h("p", { class: "muted" }, "No tags."));
}

async function tagsOf(arn) {
  if (!arn) return [];
  return all(el(await act({ Action: "ListTagsForResource", ResourceName: arn }), "TagList"), "Tag").map((tg) => [t(tg, "Key"), t(tg, "Value")]);
}

// A node's parameter state, as the API says it (`pending-reboot` waits for the node's reboot).
function parametersBadge(status) {
  return status && status !== "in-sync" ? badge(status.replace("-", " "), "params " + status) : null;
}

// The shared frame of a live page: a message line, polling every POLL_MS until another page is shown, the
// refresh's error shown (and cleared by the next good one), and a page that is gone said so.
function livePage(id, what, load, render, goneCode) {
  const my = generation;
  const head = h("div", {});
  const msg = h("div", {});
  const live = h("div", {});
  const detail = h("div", {});
  main.replaceChildren(head, msg, live, detail);
  let busy = false;
  let refreshFailed = false;
  const ctx = { head, live, detail };
  ctx.run = async (label, params, after) => {
    refreshFailed = false;
    msg.replaceChildren(h("div", { class: "notice" }, label + "…"));
    try {
      await act(params);
      msg.replaceChildren(h("div", { class: "notice", id: "action-done" }, label + ": requested."));
      if (after) after();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
    tick(true);
  };
  const tick = async (once) => {
    if (busy) return;
    busy = true;
    try {
      const data = await load();
      if (my !== generation) { busy = false; return; }
      render(ctx, data);
      if (refreshFailed) {
        msg.replaceChildren();
        refreshFailed = false;
      }
    } catch (e) {
      if (e.status === 401) { busy = false; return; }
      if (e.code === goneCode) {
        head.replaceChildren(h("h1", {}, code(id)));
        live.replaceChildren(h("div", { class: "notice", id: "gone" }, `${what} ${id} does not exist (any more).`, " ", h("a", { href: "#/" }, "Back to the list")));
        detail.replaceChildren();
        busy = false;
        return;
      }
      msg.replaceChildren(errorBox(e));
      refreshFailed = true;
    }
    busy = false;
    if (once !== true && my === generation) timer = setTimeout(tick, POLL_MS);
  };
  return tick();
}

function markLoaded(page, mark) {
  document.body.dataset.loaded = page;
  if (!performance.getEntriesByName(mark).length) performance.mark(mark);
}

// ---- a replication group's page ------------------------------------------------------------------------------

async function groupPage(id) {
  let shardChosen = null;
  let described = null;
  const load = async () => {
    const page = await getJson("api/groups/" + encodeURIComponent(id));
    const [gdoc, gev, cev] = await Promise.all([
      act({ Action: "DescribeReplicationGroups", ReplicationGroupId: id }),
      act({ Action: "DescribeEvents", SourceType: "replication-group", SourceIdentifier: id, Duration: "1440", MaxRecords: "100" }),
      act({ Action: "DescribeEvents", SourceType: "cache-cluster", Duration: "1440", MaxRecords: "100" }),
    ]);
    const group = el(gdoc, "ReplicationGroups/ReplicationGroup");
    const first = page.report.shards[0] && page.report.shards[0].nodes[0];
    let cluster = described && described.cluster;
    if (!cluster && first) {
      cluster = el(await act({ Action: "DescribeCacheClusters", CacheClusterId: first.cache_cluster_id }), "CacheClusters/CacheCluster");
    }
    const tags = group ? await tagsOf(t(group, "ARN")) : [];
    described = { group, cluster, tags };
    const members = new Set([id.toLowerCase(), ...page.report.shards.flatMap((s) => s.nodes.map((n) => n.cache_cluster_id))]);
    return { page, events: eventList([gev, cev], members) };
  };
  const render = (ctx, { page, events }) => {
    const r = page.report;
    const series = new Map(page.series.map((s) => [s.cache_cluster_id, s]));
    const params = new Map(page.parameters.map((p) => [p.cache_cluster_id, p]));
    const shards = r.shards.map((s) => s.id);
    const pick = h("select", { id: "failover-shard", hidden: shards.length < 2, onchange: (ev) => { shardChosen = ev.target.value; } },
      shards.map((s) => h("option", { value: s, selected: s === shardChosen }, s)));
    const nodeCount = r.shards.reduce((n, s) => n + s.nodes.length, 0);
    ctx.head.replaceChildren(
      h("h1", {}, code(r.id), h("span", { id: "status" }, badge(r.status))),
      h("p", { class: "muted" }, `${r.engine} ${r.engine_version} · ${r.cache_node_type} · cluster mode ${r.cluster_mode} · ${plural(r.shards.length, "shard")}, ${plural(nodeCount, "node")}`),
      h("div", { class: "actions" },
        h("button", {
          id: "test-failover", type: "button",
          onclick: async () => {
            if (await confirmDialog("Test failover", `Fail over the primary of node group ${pick.value} of ${id}? Its replica with the least lag takes over; clients reconnect to the new primary.`, null, `Fail over node group ${pick.value}`)) {
              ctx.run("TestFailover", { Action: "TestFailover", ReplicationGroupId: id, NodeGroupId: pick.value });
            }
          },
        }, "Test failover"), pick,
        snapshotButton(ctx, id, { ReplicationGroupId: id }),
        h("button", {
          id: "delete", type: "button", class: "danger",
          onclick: async () => {
            if (await confirmDialog("Delete replication group", `Delete ${id} and every node of it? Its data is lost unless you took a snapshot.`, id, "Delete")) {
              ctx.run("DeleteReplicationGroup", { Action: "DeleteReplicationGroup", ReplicationGroupId: id }, () => { location.hash = "#/"; });
            }
          },
        }, "Delete")));
    const ops = [...r.operations.map((o, i) => progressBar(o, `op-${i}`))];
    for (const s of r.shards) for (const n of s.nodes) if (n.progress) ops.push(progressBar(Object.assign({}, n.progress, { label: `${n.cache_cluster_id}: ${n.progress.label}` })));
    if (r.migration) ops.push(h("div", { class: "progress", "data-kind": "migration" }, h("b", {}, "migration"), " — ", r.migration));
    const topology = h("div", { class: "shards", id: "topology" }, r.shards.map((s) => h("div", { class: "shard", "data-shard": s.id },
      h("h3", {}, "Node group ", code(s.id), s.slots ? [" · slots ", h("span", { class: "slots" }, codes(s.slots.split(","), "slot"))] : ""),
      h("div", { class: "nodes" }, s.nodes.map((n) => {
        const f = series.get(n.cache_cluster_id) || {};
        const lag = f.lag_bytes && f.lag_bytes.length ? f.lag_bytes[f.lag_bytes.length - 1] : n.behind_bytes;
        const pct = f.max_memory ? Math.min(100, f.used_memory / f.max_memory * 100) : 0;
        const p = params.get(n.cache_cluster_id);
        return h("div", { class: "node " + (n.role || "down"), "data-id": n.cache_cluster_id, "data-role": n.role || "down", "data-address": n.address },
          h("div", { class: "top" }, code(n.cache_cluster_id), badge(n.role || "not answering", n.role || "down"),
            parametersBadge(p && p.status),
            // AWS refuses RebootCacheCluster for the nodes of a cluster mode enabled group: no button there.
            page.rebootable ? h("button", {
              class: "small reboot", type: "button", "data-id": n.cache_cluster_id,
              onclick: async () => {
                if (await confirmDialog("Reboot node", `Restart node 0001 of ${n.cache_cluster_id}? It is unavailable until it has loaded its data again.`, null, "Reboot")) {
                  ctx.run("RebootCacheCluster", { Action: "RebootCacheCluster", CacheClusterId: n.cache_cluster_id, "CacheNodeIdsToReboot.CacheNodeId.1": "0001" });
                }
              },
            }, "Reboot") : null),
          h("div", { class: "line" }, code(n.zone), " · ", code(n.address)),
          h("div", { class: "line lag" }, n.role === "primary" ? `offset ${n.offset ?? "–"}` : `lag ${lag === null || lag === undefined ? "–" : bytes(lag)}`),
          h("div", { class: "line" }, `memory ${bytes(f.used_memory)} of ${bytes(f.max_memory)}`),
          h("div", { class: "bar mem" }, h("div", { style: `width:${pct.toFixed(1)}%` })),
          h("div", { class: "line muted" }, keepWords(n.state)));
      })))));
    ctx.live.replaceChildren(
      ops.length ? h("section", { class: "panel", id: "operations" }, h("h2", {}, "Under way"), ops) : "",
      h("section", { class: "panel" }, h("h2", {}, "Topology"), topology),
      chartsPanel(page, (s) => s.cache_cluster_id, false, true));
    const g = described && described.group;
    const c = described && described.cluster;
    const pendingReboot = page.parameters.filter((p) => p.status === "pending-reboot");
    ctx.detail.replaceChildren(
      h("section", { class: "panel", id: "connect" }, h("h2", {}, "Connect"), g ? connectionStrings(g, endpointsOf(g)) : h("p", { class: "muted" }, "…")),
      h("div", { class: "grid" },
        h("section", { class: "panel", id: "configuration" }, h("h2", {}, "Configuration"), g ? kv([
          ["ARN", arn(t(g, "ARN"))],
          ["Cluster mode", t(g, "ClusterMode") || word(t(g, "ClusterEnabled"), "enabled", "disabled")],
          ["Multi-AZ", t(g, "MultiAZ")],
          ["Automatic failover", t(g, "AutomaticFailover")],
          ["Auto minor version upgrade", word(t(g, "AutoMinorVersionUpgrade"))],
          ["Parameter group", c ? dotted(t(c, "CacheParameterGroup/CacheParameterGroupName")) : ""],
          ["Pending reboot", h("span", { id: "pending-reboot" }, pendingReboot.length
            ? [codes(pendingReboot.map((p) => p.cache_cluster_id)), " (parameters that take effect at the node's next start)"]
            : "no node (parameters in sync)")],
          ["Snapshot retention (days)", t(g, "SnapshotRetentionLimit")],
          ["Snapshot window", t(g, "SnapshotWindow")],
          ["Maintenance window", c ? t(c, "PreferredMaintenanceWindow") : ""],
        ]) : ""),
        h("section", { class: "panel", id: "security" }, h("h2", {}, "Security"), g ? kv([
          ["Encryption in transit", word(t(g, "TransitEncryptionEnabled"), "enabled", "disabled") + (t(g, "TransitEncryptionMode") ? ` (${t(g, "TransitEncryptionMode")})` : "")],
          ["Encryption at rest", word(t(g, "AtRestEncryptionEnabled"), "enabled", "disabled")],
          ["AUTH token", word(t(g, "AuthTokenEnabled"), "enabled", "not enabled")],
          ["User groups", codes(all(el(g, "UserGroupIds"), "member").map((m) => m.textContent))],
          ["Security groups", c ? codes(all(el(c, "SecurityGroups"), "SecurityGroupId").map((m) => m.textContent)) : ""],
          ["Subnet group", c ? code(t(c, "CacheSubnetGroupName")) : ""],
        ]) : ""),
        logsPanel(g),
        tagsPanel(described && described.tags)),
      eventsPanel(events));
    markLoaded("group", "group-rendered");
  };
  await livePage(id, "Replication group", load, render, "ReplicationGroupNotFoundFault");
}

// ---- a cache cluster's page (Memcached, or Redis or Valkey outside a group) -------------------------------------

async function clusterPage(id) {
  const load = async () => {
    const page = await getJson("api/clusters/" + encodeURIComponent(id));
    const [cdoc, ev] = await Promise.all([
      act({ Action: "DescribeCacheClusters", CacheClusterId: id, ShowCacheNodeInfo: "true" }),
      act({ Action: "DescribeEvents", SourceType: "cache-cluster", SourceIdentifier: id, Duration: "1440", MaxRecords: "100" }),
    ]);
    const cluster = el(cdoc, "CacheClusters/CacheCluster");
    const tags = cluster ? await tagsOf(t(cluster, "ARN")) : [];
    return { page, cluster, tags, events: eventList([ev], new Set([id.toLowerCase()])) };
  };
  const render = (ctx, { page, cluster, tags, events }) => {
    const r = page.report;
    const memcached = r.engine === "memcached";
    const c = cluster;
    const apiNodes = new Map(all(el(c, "CacheNodes"), "CacheNode").map((n) => [t(n, "CacheNodeId"), n]));
    const series = new Map(page.series.map((s) => [s.cache_node_id, s]));
    ctx.head.replaceChildren(
      h("h1", {}, code(r.id), h("span", { id: "status" }, badge(r.status))),
      h("p", { class: "muted" }, `cache cluster · ${r.engine} ${r.engine_version} · ${r.cache_node_type} · ${plural(r.nodes.length, "node")}`),
      h("div", { class: "actions" },
        memcached ? null : snapshotButton(ctx, id, { CacheClusterId: id }),
        h("button", {
          id: "delete", type: "button", class: "danger",
          onclick: async () => {
            if (await confirmDialog("Delete cache cluster", `Delete ${id} and every node of it? ${memcached ? "Its items are lost." : "Its data is lost unless you took a snapshot."}`, id, "Delete")) {
              ctx.run("DeleteCacheCluster", { Action: "DeleteCacheCluster", CacheClusterId: id }, () => { location.hash = "#/"; });
            }
          },
        }, "Delete")));
    const ops = [...r.operations.map((o, i) => progressBar(o, `op-${i}`))];
    for (const n of r.nodes) if (n.progress) ops.push(progressBar(n.progress));
    const nodes = h("div", { class: "nodes", id: "topology" }, r.nodes.map((n) => {
      const f = series.get(n.cache_node_id) || {};
      const used = memcached ? n.memory_used_bytes : f.used_memory;
      const max = memcached ? n.memory_max_bytes : f.max_memory;
      const pct = max ? Math.min(100, used / max * 100) : 0;
      const api = apiNodes.get(n.cache_node_id);
      const role = memcached ? (n.status === "available" ? "available" : n.status) : (n.role || "down");
      return h("div", { class: "node " + (memcached ? "memcached" : role), "data-id": memcached ? n.cache_node_id : n.cache_cluster_id, "data-role": role, "data-address": n.address },
        h("div", { class: "top" }, code(memcached ? n.cache_node_id : n.cache_cluster_id), badge(memcached ? n.status : n.role || "not answering", memcached ? n.status : n.role || "down"),
          parametersBadge(api && t(api, "ParameterGroupStatus")),
          h("button", {
            class: "small reboot", type: "button", "data-id": n.cache_node_id,
            onclick: async () => {
              if (await confirmDialog("Reboot node", `Restart node ${n.cache_node_id} of ${id}?${memcached ? " A restarted Memcached node is empty." : ""}`, null, "Reboot")) {
                ctx.run("RebootCacheCluster", { Action: "RebootCacheCluster", CacheClusterId: id, "CacheNodeIdsToReboot.CacheNodeId.1": n.cache_node_id });
              }
            },
          }, "Reboot")),
        h("div", { class: "line" }, code(n.zone), " · ", code(n.address, "address")),
        memcached ? h("div", { class: "line items" }, n.items === null || n.items === undefined ? "items –" : plural(n.items, "item"))
          : h("div", { class: "line" }, n.role === "primary" ? `offset ${n.offset ?? "–"}` : ""),
        h("div", { class: "line" }, `memory ${bytes(used)} of ${bytes(max)}`),
        h("div", { class: "bar mem" }, h("div", { style: `width:${pct.toFixed(1)}%` })),
        h("div", { class: "line muted" }, keepWords(n.state)));
    }));
    ctx.live.replaceChildren(
      ops.length ? h("section", { class: "panel", id: "operations" }, h("h2", {}, "Under way"), ops) : "",
      memcached ? h("section", { class: "panel", id: "discovery" }, h("h2", {}, "Configuration endpoint"), kv([
        ["Address", code(r.configuration_endpoint, "config-endpoint")],
        ["Auto discovery", [`version ${r.discovery_version}, listing `, codes(r.discovery_nodes)]],
      ]), copyRow("Ask it (config get cluster)", `printf 'config get cluster\\r\\n' | nc ${r.configuration_endpoint.replace(/:(\d+)$/, " $1")}`),
      h("p", { class: "muted" }, "Auto discovery clients read the node list from this endpoint; its version grows each time a node is added or removed.")) : "",
      h("section", { class: "panel" }, h("h2", {}, "Nodes"), nodes),
      chartsPanel(page, (s) => memcached ? s.cache_node_id : s.cache_cluster_id, memcached, false));
    const toReboot = all(el(c, "CacheParameterGroup/CacheNodeIdsToReboot"), "CacheNodeId").map((n) => n.textContent);
    const endpoints = memcached ? [] : r.nodes.map((n) => { const [host, port] = n.address.split(/:(?=\d+$)/); return { name: "Endpoint", host, port }; });
    ctx.detail.replaceChildren(
      memcached ? "" : h("section", { class: "panel", id: "connect" }, h("h2", {}, "Connect"), c ? connectionStrings(c, endpoints) : h("p", { class: "muted" }, "…")),
      h("div", { class: "grid" },
        h("section", { class: "panel", id: "configuration" }, h("h2", {}, "Configuration"), c ? kv([
          ["ARN", arn(t(c, "ARN"))],
          ["Availability zone", t(c, "PreferredAvailabilityZone")],
          ["Parameter group", [dotted(t(c, "CacheParameterGroup/CacheParameterGroupName")), ` (${t(c, "CacheParameterGroup/ParameterApplyStatus").replace("-", " ")})`]],
          ["Pending reboot", h("span", { id: "pending-reboot" }, toReboot.length ? [codes(toReboot), " (parameters that take effect at the node's next start)"] : "no node (parameters in sync)")],
          ...(memcached ? [
            ["Pending node count", t(c, "PendingModifiedValues/NumCacheNodes")],
            ["Nodes to remove", codes(all(el(c, "PendingModifiedValues/CacheNodeIdsToRemove"), "CacheNodeId").map((n) => n.textContent))],
          ] : []),
          ["Maintenance window", t(c, "PreferredMaintenanceWindow")],
          ["Auto minor version upgrade", word(t(c, "AutoMinorVersionUpgrade"))],
        ]) : ""),
        h("section", { class: "panel", id: "security" }, h("h2", {}, "Security"), c ? kv([
          ["Encryption in transit", word(t(c, "TransitEncryptionEnabled"), "enabled", "disabled") + (t(c, "TransitEncryptionMode") ? ` (${t(c, "TransitEncryptionMode")})` : "")],
          ["Encryption at rest", word(t(c, "AtRestEncryptionEnabled"), "enabled", "disabled")],
          ["AUTH token", word(t(c, "AuthTokenEnabled"), "enabled", "not enabled")],
          ["Security groups", codes(all(el(c, "SecurityGroups"), "SecurityGroupId").map((m) => m.textContent))],
          ["Subnet group", code(t(c, "CacheSubnetGroupName"))],
        ]) : ""),
        memcached ? "" : logsPanel(c),
        tagsPanel(tags)),
      eventsPanel(events));
    markLoaded("cluster", "cluster-rendered");
  };
  await livePage(id, "Cache cluster", load, render, "CacheClusterNotFound");
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

// ---- routing -------------------------------------------------------------------------------------------------

async function route() {
  stop();
  generation++;
  delete document.body.dataset.loaded;
  if (!session) {
    try {
      session = await getJson("api/session");
    } catch (e) {
      if (e.status !== 401) main.replaceChildren(errorBox(e));
      return;
    }
    document.getElementById("region").textContent = session.region;
    document.getElementById("logout").hidden = false;
    document.getElementById("logout-all").hidden = false;
    // What the daemon said of itself at its start (e.g. that it serves no metrics): on every page.
    document.getElementById("notices").replaceChildren(
      ...(session.notices || []).map((n) => h("div", { class: "notice daemon-notice" }, n)));
  }
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/groups\/(.+)$/);
  if (m) return groupPage(decodeURIComponent(m[1]));
  const c = hash.match(/^#\/clusters\/(.+)$/);
  if (c) return clusterPage(decodeURIComponent(c[1]));
  if (hash === "#/create") return createPage();
  return listPage();
}

window.addEventListener("hashchange", route);
route();
