// The Cacheplane console: a page of the daemon, no library. Everything shown is read after a login from the
// console's JSON (api/list, api/groups/<id>) and from the ElastiCache API itself (api/action, XML), and every
// action is an API request — so the console shows AWS's answers and errors as they are.
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
  for (const c of children.flat()) {
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

function num(n) {
  if (n === null || n === undefined) return "–";
  return n >= 1000 ? Math.round(n).toLocaleString("en") : (Math.round(n * 10) / 10).toString();
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

function confirmDialog(title, text, word) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-word").textContent = word || "";
  document.getElementById("confirm-label").hidden = !word;
  const input = document.getElementById("confirm-input");
  input.value = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok" && (!word || input.value === word)), { once: true });
    d.showModal();
    (word ? input : document.getElementById("confirm-ok")).focus();
  });
}

// ---- login ---------------------------------------------------------------------------------------------------

function login(message) {
  stop();
  session = null;
  document.getElementById("logout").hidden = true;
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
        const isGroup = e.kind === "replication-group";
        return h("tr", {
          class: isGroup ? "link" : "", "data-id": e.id,
          onclick: isGroup ? () => { location.hash = "#/groups/" + encodeURIComponent(e.id); } : null,
        },
        h("td", {}, isGroup ? h("a", { href: "#/groups/" + encodeURIComponent(e.id) }, e.id) : e.id),
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
    row("Encryption at rest", check("AtRestEncryptionEnabled", false)),
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
    for (const k of ["MultiAZEnabled", "AutomaticFailoverEnabled", "TransitEncryptionEnabled", "AtRestEncryptionEnabled"]) {
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

// ---- a group's page ------------------------------------------------------------------------------------------

const COLOURS = ["#0972d3", "#037f0c", "#d91515", "#8d6605", "#7d4ccf", "#00848f", "#e07941", "#545b64"];

function chart(title, id, series, format) {
  // The last hour, or less while there is less: the first point at the left edge (at least a minute across).
  const w = 320, hgt = 120, now = Date.now() / 1000;
  const first = Math.min(now, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const from = Math.max(now - 3600, Math.min(first, now - 60));
  const span = now - from;
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const box = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  for (const f of [0.25, 0.5, 0.75]) {
    box.append(svg("line", { x1: 0, x2: w, y1: hgt * f, y2: hgt * f, stroke: "#eaeded", "stroke-width": 1 }));
  }
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p[0] >= from)
      .map((p) => `${((p[0] - from) / span * w).toFixed(1)},${(hgt - 4 - p[1] / max * (hgt - 12)).toFixed(1)}`);
    if (pts.length === 1) pts.push(pts[0]);
    if (pts.length) box.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 1.6, "vector-effect": "non-scaling-stroke" }));
  });
  return h("div", { class: "chart", id },
    h("h4", {}, title, h("span", { class: "muted" }, "  max " + format(max))),
    box,
    h("div", { class: "legend" }, h("span", { class: "muted" }, `last ${Math.round(span / 60)} min`),
      series.map((s, i) => h("span", {}, h("i", { style: `background:${COLOURS[i % COLOURS.length]}` }), s.name))));
}

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

function connectionStrings(g) {
  const tls = t(g, "TransitEncryptionEnabled") === "true";
  const auth = t(g, "AuthTokenEnabled") === "true";
  const users = all(el(g, "UserGroupIds"), "member").length > 0;
  const rows = [];
  for (const e of endpointsOf(g)) {
    const cli = ["redis-cli", "-h", e.host, "-p", e.port];
    if (e.cluster) cli.push("-c");
    if (tls) cli.push("--tls", "--cacert", "cacheplane-ca.pem");
    if (users) cli.push("--user", "<user>", "--askpass");
    else if (auth) cli.push("--askpass");
    const cred = users ? "<user>:<password>@" : auth ? ":<auth-token>@" : "";
    const url = `${tls ? "rediss" : "redis"}://${cred}${e.host}:${e.port}`;
    for (const [kind, s] of [["redis-cli", cli.join(" ")], ["URL", url]]) {
      rows.push(h("div", { class: "conn-string" },
        h("span", { class: "muted", style: "width:190px" }, `${e.name} (${kind})`),
        h("code", { class: "connection" }, s),
        h("button", { class: "small", type: "button", onclick: (ev) => { navigator.clipboard && navigator.clipboard.writeText(s); ev.target.textContent = "Copied"; } }, "Copy")));
    }
  }
  if (tls) rows.push(h("p", {}, h("a", { href: "api/ca.pem", download: "cacheplane-ca.pem", id: "ca-download" }, "Download the CA bundle"), " (cacheplane-ca.pem) that signs every node's certificate."));
  if (auth || users) rows.push(h("p", { class: "muted" }, "Credentials are never shown here: redis-cli asks for them (--askpass)."));
  return rows;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v === null || v === undefined ? "–" : v)]));
}

async function groupPage(id) {
  const my = generation;
  let shardChosen = null;
  const head = h("div", {});
  const msg = h("div", {});
  const live = h("div", {});
  const detail = h("div", {});
  main.replaceChildren(head, msg, live, detail);
  let busy = false;
  let described = null;
  // Whether the message shown is a failed refresh's (cleared by the next good one) rather than an action's.
  let refreshFailed = false;
  const run = async (label, params, after) => {
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
  const actions = (page) => {
    const shards = page.report.shards.map((s) => s.id);
    const pick = h("select", { id: "failover-shard", hidden: shards.length < 2, onchange: (ev) => { shardChosen = ev.target.value; } },
      shards.map((s) => h("option", { value: s, selected: s === shardChosen }, s)));
    return h("div", { class: "actions" },
      h("button", {
        id: "test-failover", type: "button",
        onclick: async () => {
          if (await confirmDialog("Test failover", `Fail over the primary of node group ${pick.value} of ${id}? Its replica with the least lag takes over.`)) {
            run("TestFailover", { Action: "TestFailover", ReplicationGroupId: id, NodeGroupId: pick.value });
          }
        },
      }, "Test failover"), pick,
      h("button", {
        id: "snapshot", type: "button",
        onclick: async () => {
          const name = `${id}-console-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
          if (await confirmDialog("Create snapshot", `Take snapshot ${name} of ${id}?`)) {
            run("CreateSnapshot", { Action: "CreateSnapshot", ReplicationGroupId: id, SnapshotName: name });
          }
        },
      }, "Create snapshot"),
      h("button", {
        id: "delete", type: "button", class: "danger",
        onclick: async () => {
          if (await confirmDialog("Delete replication group", `Delete ${id} and every node of it? Its data is lost unless you took a snapshot.`, id)) {
            run("DeleteReplicationGroup", { Action: "DeleteReplicationGroup", ReplicationGroupId: id }, () => { location.hash = "#/"; });
          }
        },
      }, "Delete"));
  };
  const render = (page, events) => {
    const r = page.report;
    const series = new Map(page.series.map((s) => [s.cache_cluster_id, s]));
    head.replaceChildren(
      h("h1", {}, r.id, h("span", { id: "status" }, badge(r.status))),
      h("p", { class: "muted" }, `${r.engine} ${r.engine_version} · ${r.cache_node_type} · ${r.shards.length} shard(s), ${r.shards.reduce((n, s) => n + s.nodes.length, 0)} node(s)`),
      actions(page));
    const ops = [...r.operations.map((o, i) => progressBar(o, `op-${i}`))];
    for (const s of r.shards) for (const n of s.nodes) if (n.progress) ops.push(progressBar(Object.assign({}, n.progress, { label: `${n.cache_cluster_id}: ${n.progress.label}` })));
    if (r.migration) ops.push(h("div", { class: "progress", "data-kind": "migration" }, h("b", {}, "migration"), " — ", r.migration));
    const topology = h("div", { class: "shards", id: "topology" }, r.shards.map((s) => h("div", { class: "shard", "data-shard": s.id },
      h("h3", {}, `Node group ${s.id}`, s.slots ? ` · slots ${s.slots}` : ""),
      h("div", { class: "nodes" }, s.nodes.map((n) => {
        const f = series.get(n.cache_cluster_id) || {};
        const lag = f.lag_bytes && f.lag_bytes.length ? f.lag_bytes[f.lag_bytes.length - 1] : n.behind_bytes;
        const pct = f.max_memory ? Math.min(100, f.used_memory / f.max_memory * 100) : 0;
        return h("div", { class: "node " + (n.role || "down"), "data-id": n.cache_cluster_id, "data-role": n.role || "down", "data-address": n.address },
          h("div", { class: "top" }, h("span", { class: "id" }, n.cache_cluster_id), badge(n.role || "not answering", n.role || "down"),
            h("button", {
              class: "small reboot", type: "button", "data-id": n.cache_cluster_id,
              onclick: async () => {
                if (await confirmDialog("Reboot node", `Restart node 0001 of ${n.cache_cluster_id}?`)) {
                  run("RebootCacheCluster", { Action: "RebootCacheCluster", CacheClusterId: n.cache_cluster_id, "CacheNodeIdsToReboot.CacheNodeId.1": "0001" });
                }
              },
            }, "Reboot")),
          h("div", { class: "line" }, `${n.zone} · ${n.address}`),
          h("div", { class: "line lag" }, n.role === "primary" ? `offset ${n.offset ?? "–"}` : `lag ${lag === null || lag === undefined ? "–" : bytes(lag)}`),
          h("div", { class: "line" }, `memory ${bytes(f.used_memory)} of ${bytes(f.max_memory)}`),
          h("div", { class: "bar mem" }, h("div", { style: `width:${pct.toFixed(1)}%` })),
          h("div", { class: "line muted" }, n.state));
      })))));
    const pts = (s, key) => s.at.map((a, i) => [a, s[key][i]]).filter((p) => p[1] !== null && p[1] !== undefined);
    const charts = h("div", { class: "charts" },
      chart("Commands per second", "chart-ops", page.series.map((s) => ({ name: s.cache_cluster_id, points: pts(s, "ops_per_second") })), num),
      chart("Memory used", "chart-memory", page.series.map((s) => ({ name: s.cache_cluster_id, points: pts(s, "used_memory_bytes") })), bytes),
      chart("Replication lag", "chart-lag", page.series.map((s) => ({ name: s.cache_cluster_id, points: pts(s, "lag_bytes") })), bytes));
    live.replaceChildren(
      ops.length ? h("section", { class: "panel", id: "operations" }, h("h2", {}, "Under way"), ops) : "",
      h("section", { class: "panel" }, h("h2", {}, "Topology"), topology),
      h("section", { class: "panel" }, h("h2", {}, "Last hour"), charts,
        h("p", { class: "muted" }, `A point every ${page.interval_seconds} s, read from each node's INFO.`)));
    const g = described && described.group;
    const c = described && described.cluster;
    detail.replaceChildren(
      h("section", { class: "panel", id: "connect" }, h("h2", {}, "Connect"), g ? connectionStrings(g) : h("p", { class: "muted" }, "…")),
      h("div", { class: "grid" },
      h("section", { class: "panel", id: "configuration" }, h("h2", {}, "Configuration"), g ? kv([
        ["ARN", t(g, "ARN")],
        ["Cluster mode", t(g, "ClusterMode") || (t(g, "ClusterEnabled") === "true" ? "enabled" : "disabled")],
        ["Multi-AZ", t(g, "MultiAZ")],
        ["Automatic failover", t(g, "AutomaticFailover")],
        ["Parameter group", c ? t(c, "CacheParameterGroup/CacheParameterGroupName") : ""],
        ["Snapshot retention (days)", t(g, "SnapshotRetentionLimit")],
        ["Snapshot window", t(g, "SnapshotWindow")],
        ["Maintenance window", c ? t(c, "PreferredMaintenanceWindow") : ""],
      ]) : ""),
      h("section", { class: "panel", id: "security" }, h("h2", {}, "Security"), g ? kv([
        ["Encryption in transit", t(g, "TransitEncryptionEnabled") + (t(g, "TransitEncryptionMode") ? ` (${t(g, "TransitEncryptionMode")})` : "")],
        ["Encryption at rest", t(g, "AtRestEncryptionEnabled")],
        ["AUTH token", t(g, "AuthTokenEnabled") === "true" ? "enabled" : "not enabled"],
        ["User groups", all(el(g, "UserGroupIds"), "member").map((m) => m.textContent).join(", ")],
        ["Security groups", c ? all(el(c, "SecurityGroups"), "SecurityGroupId").map((m) => m.textContent).join(", ") : ""],
        ["Subnet group", c ? t(c, "CacheSubnetGroupName") : ""],
      ]) : ""),
      h("section", { class: "panel", id: "tags" }, h("h2", {}, "Tags"), described && described.tags.length
        ? kv(described.tags) : h("p", { class: "muted" }, "No tags."))),
    h("section", { class: "panel" }, h("h2", {}, "Events"),
      h("ol", { class: "events", id: "events" }, events.length ? events.map((e) =>
        h("li", {}, h("time", { datetime: e.date }, e.date.replace("T", " ").replace(/\.\d+Z$/, "Z")), h("span", { class: "muted" }, e.source + ": "), e.message))
        : h("li", { class: "muted" }, "No events in the last day."))));
    document.body.dataset.loaded = "group";
    if (!performance.getEntriesByName("group-rendered").length) performance.mark("group-rendered");
  };
  const tick = async (once) => {
    if (busy) return;
    busy = true;
    try {
      const page = await getJson("api/groups/" + encodeURIComponent(id));
      const members = new Set([id.toLowerCase(), ...page.report.shards.flatMap((s) => s.nodes.map((n) => n.cache_cluster_id))]);
      const [gdoc, gev, cev] = await Promise.all([
        act({ Action: "DescribeReplicationGroups", ReplicationGroupId: id }),
        act({ Action: "DescribeEvents", SourceType: "replication-group", SourceIdentifier: id, Duration: "1440", MaxRecords: "100" }),
        act({ Action: "DescribeEvents", SourceType: "cache-cluster", Duration: "1440", MaxRecords: "100" }),
      ]);
      const group = el(gdoc, "ReplicationGroups/ReplicationGroup");
      const first = page.report.shards[0] && page.report.shards[0].nodes[0];
      let cluster = described && described.cluster;
      let tags = described ? described.tags : [];
      if (!described || !cluster) {
        if (first) cluster = el(await act({ Action: "DescribeCacheClusters", CacheClusterId: first.cache_cluster_id }), "CacheClusters/CacheCluster");
      }
      if (group && t(group, "ARN")) {
        tags = all(el(await act({ Action: "ListTagsForResource", ResourceName: t(group, "ARN") }), "TagList"), "Tag").map((tg) => [t(tg, "Key"), t(tg, "Value")]);
      }
      described = { group, cluster, tags };
      if (my !== generation) { busy = false; return; }
      const events = [...all(el(gev, "Events"), "Event"), ...all(el(cev, "Events"), "Event")]
        .map((e) => ({ source: t(e, "SourceIdentifier"), message: t(e, "Message"), date: t(e, "Date") }))
        .filter((e) => members.has(e.source.toLowerCase()))
        .sort((a, b) => b.date.localeCompare(a.date));
      render(page, events);
      if (refreshFailed) {
        msg.replaceChildren();
        refreshFailed = false;
      }
    } catch (e) {
      if (e.status === 401) { busy = false; return; }
      if (e.code === "ReplicationGroupNotFoundFault") {
        head.replaceChildren(h("h1", {}, id));
        live.replaceChildren(h("div", { class: "notice", id: "gone" }, `Replication group ${id} does not exist (any more).`, " ", h("a", { href: "#/" }, "Back to the list")));
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
  await tick();
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
  }
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/groups\/(.+)$/);
  if (m) return groupPage(decodeURIComponent(m[1]));
  if (hash === "#/create") return createPage();
  return listPage();
}

window.addEventListener("hashchange", route);
route();
