// Carthouse dashboard: every number comes from the REST API (a read-only session cookie authenticates it); the
// page only computes deltas against the comparison period and CSV files from what it fetched.
import uPlot from "/dashboard/vendor/uplot.js?v=1.6.32";

const API = "/dashboard/api/v1/api/analytics";
const $ = (id) => document.getElementById(id);
const tables = {}; // CSV sources: panel name -> {columns, rows}
const MODELS = ["last_click", "linear", "time_decay", "position_based"];
let shop = null; // GET /v1/api/analytics/appspace
let chart = null;

// ------------------------------------------------------------------ state in the URL

function state() {
  const q = new URLSearchParams(location.search);
  return {
    range: q.get("range") || "30d", start: q.get("start") || "", end: q.get("end") || "",
    compare: q.get("compare") || "previous", flagged: q.get("flagged") === "true",
    window: q.get("window") || "30", tab: q.get("tab") || "channel",
    model: MODELS.includes(q.get("model")) ? q.get("model") : "last_click",
    // The zone days are counted in: the appspace's unless the view names another.
    tz: q.get("tz") || shop?.timezone || "UTC",
  };
}

function setState(changes) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === "" || v === false || v == null) q.delete(k); else q.set(k, String(v));
  }
  history.pushState(null, "", `${location.pathname}?${q}`);
  render();
}

// ------------------------------------------------------------------ dates (in the appspace's time zone)

const iso = (d) => d.toISOString().slice(0, 10);
const addDays = (day, n) => { const d = new Date(`${day}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + n); return iso(d); };
const addYears = (day, n) => { const d = new Date(`${day}T00:00:00Z`); d.setUTCFullYear(d.getUTCFullYear() + n); return iso(d); };
const daysBetween = (a, b) => Math.round((new Date(`${b}T00:00:00Z`) - new Date(`${a}T00:00:00Z`)) / 864e5) + 1;

let zone = "UTC"; // the view's time zone (state().tz), set by render()

function today() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date());
}

function period(s) {
  const t = today();
  const month = t.slice(0, 8) + "01";
  switch (s.range) {
    case "today": return [t, t];
    case "yesterday": return [addDays(t, -1), addDays(t, -1)];
    case "7d": return [addDays(t, -6), t];
    case "mtd": return [month, t];
    case "lastmonth": { const end = addDays(month, -1); return [end.slice(0, 8) + "01", end]; }
    case "ytd": return [t.slice(0, 5) + "01-01", t];
    case "12m": return [addDays(addYears(t, -1), 1), t];
    case "custom": if (s.start && s.end) return [s.start, s.end]; return [addDays(t, -29), t];
    default: return [addDays(t, -29), t];
  }
}

function comparison(s, [start, end]) {
  if (s.compare === "none") return null;
  if (s.compare === "year") return [addYears(start, -1), addYears(end, -1)];
  const n = daysBetween(start, end);
  return [addDays(start, -n), addDays(start, -1)];
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, params = {}) {
  const query = new URLSearchParams(params);
  let response;
  try {
    response = await fetch(`${API}${path}?${query}`, { credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "Carthouse could not be reached.");
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { showSignIn(); throw new ApiError(401, body.error || "Not signed in"); }
  if (!response.ok) throw new ApiError(response.status, body.error || `Error ${response.status}`);
  return body;
}

// ------------------------------------------------------------------ formatting and elements

const money = (v) => new Intl.NumberFormat(undefined, { style: "currency", currency: shop.base_currency }).format(v ?? 0);
const num = (v) => new Intl.NumberFormat().format(v ?? 0);
const pct = (v) => `${(v ?? 0).toFixed(1)} %`;
// A moment as the view's clock shows it (its time zone, named in the header): 2026-01-15 10:30:00.
const when = (ts) => new Intl.DateTimeFormat("sv-SE", { timeZone: zone, dateStyle: "short",
  timeStyle: "medium" }).format(new Date(ts));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") node.style.cssText = v; else if (k in node && k !== "title") node[k] = v; else node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function table(name, columns, rows) {
  tables[name] = { columns, rows };
  if (!rows.length) return el("p", { className: "empty" }, "No data in this range.");
  return el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", className: c.num ? "num" : "" }, c.label)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", { className: c.num ? "num" : "" },
      c.format ? c.format(r[c.key], r) : r[c.key] ?? ""))))));
}

function failed(target, error, retry) {
  const message = error.status === 403 ? error.message : error.status === 0
    ? "Carthouse could not be reached." : `Could not load: ${error.message}`;
  target.replaceChildren(el("p", { className: "error", role: "alert" }, message,
    error.status === 403 ? "" : el("button", { type: "button", onclick: retry }, "Retry")));
}

let renders = 0; // a panel shows only what the latest render asked for

async function panel(target, load) {
  const mine = renders;
  target.replaceChildren(el("p", { className: "loading" }, "Loading…"));
  try {
    const content = await load();
    if (mine === renders) target.replaceChildren(content);
  } catch (error) {
    if (error.status !== 401 && mine === renders) failed(target, error, () => panel(target, load));
  }
}

function csv(name) {
  const source = tables[name];
  if (!source) return;
  const cell = (v) => { const s = String(v ?? ""); return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s; };
  const lines = [source.columns.map((c) => cell(c.label)).join(",")]
    .concat(source.rows.map((r) => source.columns.map((c) => cell(r[c.key])).join(",")));
  const link = el("a", { href: URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" })),
    download: `carthouse-${name}.csv` });
  link.click();
  // Not at once: the download reads the blob after click() returns, and a revoked one is a 404.
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

// ------------------------------------------------------------------ panels

const KPIS = [
  ["total_revenue", "Gross revenue", money, "Σ revenue of purchases (flagged ones only with Include flagged)"],
  ["net_revenue", "Net revenue", money, "Gross revenue − refunds"],
  ["refund_amount", "Refunds", money, "Σ revenue of refund events"],
  ["total_orders", "Orders", num, "Purchase events"],
  ["avg_order_value", "Average order", money, "Gross revenue / orders"],
  ["total_items_sold", "Items sold", num, "Σ quantity of purchased items"],
  ["add_to_cart_rate", "Add-to-cart rate", pct, "Actors who added to cart / actors who viewed a product × 100"],
  ["cart_abandonment_rate", "Cart abandonment", pct, "Abandoned carts / (abandoned + completed) × 100"],
];

function delta(now, before) {
  if (before == null) return "";
  if (!before) return now ? "new" : "±0";
  const change = ((now - before) / Math.abs(before)) * 100;
  return `${change >= 0 ? "+" : ""}${change.toFixed(1)} %`;
}

async function kpis(params, previous) {
  const [now, before] = await Promise.all([api("/ecommerce/overview", params),
    previous ? api("/ecommerce/overview", previous) : null]);
  tables.kpis = { columns: [{ key: "name", label: "figure" }, { key: "value", label: "value" }],
    rows: KPIS.map(([key, name]) => ({ name, value: now[key] })) };
  return el("div", { className: "kpis" }, KPIS.map(([key, name, format, definition]) =>
    el("div", { className: "kpi", title: definition, tabIndex: 0, "data-kpi": key },
      el("span", { className: "kpi-name" }, name),
      el("span", { className: "kpi-value" }, format(now[key])),
      el("span", { className: "kpi-delta" }, before ? delta(now[key], before[key]) : ""))));
}

async function series(params, previous) {
  const [now, before] = await Promise.all([api("/ecommerce/revenue-timeseries", params),
    previous ? api("/ecommerce/revenue-timeseries", previous) : null]);
  tables.series = { columns: [{ key: "date", label: "date" }, { key: "revenue", label: "revenue" },
    { key: "orders", label: "orders" }], rows: now.series };
  const box = el("div", { className: "chart-box" });
  const xs = now.series.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
  const data = [xs, now.series.map((d) => d.revenue)];
  const lines = [{}, { label: "Revenue", stroke: "#2563eb", width: 2, value: (u, v) => v == null ? "" : money(v) }];
  if (before) {
    data.push(now.series.map((_, i) => before.series[i]?.revenue ?? null));
    lines.push({ label: "Comparison", stroke: "#9ca3af", dash: [6, 4], value: (u, v) => v == null ? "" : money(v) });
  }
  const mine = renders;
  requestAnimationFrame(() => {
    if (mine !== renders) return;
    chart?.destroy();
    chart = new uPlot({ width: Math.max(280, box.clientWidth), height: 240, series: lines, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      axes: [{}, { values: (u, ticks) => ticks.map((v) => money(v)), size: 80 }] }, data, box);
    // The chart follows its box: a phone turned sideways, a window made narrower.
    const drawn = chart;
    new ResizeObserver(() => drawn.setSize({ width: Math.max(280, box.clientWidth), height: 240 })).observe(box);
  });
  return box;
}

async function funnel(params) {
  const { steps } = await api("/ecommerce/funnel", params);
  const first = steps[0].count || 0;
  const rows = steps.map((s, i) => ({ ...s, overall: first ? (s.count / first) * 100 : 0,
    dropped: i ? steps[i - 1].count - s.count : 0 }));
  tables.funnel = { columns: [{ key: "name", label: "step" }, { key: "count", label: "actors" },
    { key: "percentage", label: "of previous %" }, { key: "overall", label: "of first %" },
    { key: "dropped", label: "dropped" }], rows };
  if (!first) return el("p", { className: "empty" }, "No product views in this range.");
  return el("ol", { className: "funnel" }, rows.map((s) => el("li", {},
    el("span", { className: "step" }, s.name.replaceAll("_", " ")),
    el("span", { className: "bar", style: `width:${Math.max(1, s.overall)}%` }),
    el("span", { className: "figures" }, `${num(s.count)} · ${pct(s.percentage)} of previous · ${pct(s.overall)} overall`
      + (s.dropped ? ` · −${num(s.dropped)}` : "")))));
}

async function carts(params) {
  const c = await api("/ecommerce/cart-abandonment", params);
  tables.carts = { columns: [{ key: "name", label: "figure" }, { key: "value", label: "value" }],
    rows: [["Abandonment rate", c.abandonment_rate], ["Abandoned carts", c.abandoned_carts],
      ["Left in abandoned carts", c.abandoned_revenue], ["Completed carts", c.completed_carts]]
      .map(([name, value]) => ({ name, value })) };
  return el("dl", { className: "figures-list" },
    el("dt", {}, "Abandonment rate"), el("dd", {}, pct(c.abandonment_rate)),
    el("dt", {}, "Abandoned carts"), el("dd", {}, num(c.abandoned_carts)),
    el("dt", {}, "Left in abandoned carts"), el("dd", {}, money(c.abandoned_revenue)),
    el("dt", {}, "Completed carts"), el("dd", {}, num(c.completed_carts)));
}

async function products(params) {
  const { products: rows } = await api("/ecommerce/top-products", { ...params, limit: 20 });
  return table("products", [{ key: "item_id", label: "Item" }, { key: "item_name", label: "Name" },
    { key: "revenue", label: "Revenue", num: true, format: money }, { key: "quantity", label: "Units", num: true, format: num },
    { key: "orders", label: "Orders", num: true, format: num }], rows);
}

const BREAKDOWNS = {
  channel: ["/ecommerce/revenue-by-channel", "channels", [{ key: "campaign", label: "Campaign" }, { key: "source", label: "Source" },
    { key: "medium", label: "Medium" }, { key: "conversion_rate", label: "Conversion", num: true, format: pct }]],
  coupon: ["/ecommerce/revenue-by-coupon", "coupons", [{ key: "coupon_code", label: "Coupon" },
    { key: "avg_discount", label: "Average discount", num: true, format: money }]],
  device: ["/ecommerce/revenue-by-device", "devices", [{ key: "device_type", label: "Device" }]],
  platform: ["/ecommerce/revenue-by-platform", "platforms", [{ key: "platform", label: "Platform" }]],
  country: ["/ecommerce/revenue-by-country", "countries", [{ key: "country", label: "Country" }]],
};

async function breakdown(params, tab) {
  const [path, field, keys] = BREAKDOWNS[tab] || BREAKDOWNS.channel;
  const rows = (await api(path, params))[field];
  const top = Math.max(...rows.map((r) => r.revenue), 0);
  return table("breakdown", [...keys.filter((c) => !c.num), { key: "revenue", label: "Revenue", num: true,
    format: (v) => el("span", { className: "cell-bar" }, el("span", { className: "bar", style: `width:${top ? (v / top) * 100 : 0}%` }), money(v)) },
  { key: "orders", label: "Orders", num: true, format: num }, ...keys.filter((c) => c.num)], rows);
}

async function attribution(params, window, sortedBy) {
  const answers = await Promise.all(MODELS.map((model) => api("/ecommerce/attribution", { ...params, model, window })));
  const channels = new Map();
  answers.forEach((a, i) => a.attributed.forEach((row) => {
    const key = `${row.campaign}\u0000${row.source}\u0000${row.medium}`;
    const entry = channels.get(key) || { campaign: row.campaign, source: row.source, medium: row.medium };
    entry[MODELS[i]] = row.revenue;
    channels.set(key, entry);
  }));
  const rows = [...channels.values()].sort((a, b) => (b[sortedBy] ?? 0) - (a[sortedBy] ?? 0));
  rows.push({ campaign: "(unattributed)", source: "", medium: "",
    ...Object.fromEntries(MODELS.map((m, i) => [m, answers[i].unattributed.revenue])) });
  return table("attribution", [{ key: "campaign", label: "Campaign" }, { key: "source", label: "Source" },
    { key: "medium", label: "Medium" }, ...MODELS.map((m) => ({ key: m, label: m.replace("_", " "), num: true, format: money }))],
  rows.length > 1 ? rows : []);
}

async function cohorts(flagged) {
  const c = await api("/ecommerce/cohorts", { months: 12, include_flagged: flagged, tz: zone });
  const width = Math.max(...c.cohorts.map((r) => Object.keys(r.revenue_by_month).length), 1);
  const top = Math.max(...c.cohorts.flatMap((r) => Object.values(r.revenue_by_month)), 0);
  const rows = c.cohorts.map((r) => ({ month: r.month, users: r.users, ltv: r.ltv,
    ...Object.fromEntries(Object.entries(r.revenue_by_month).map(([k, v]) => [`m${k}`, v])) }));
  const columns = [{ key: "month", label: "Cohort" }, { key: "users", label: "Users", num: true, format: num },
    { key: "ltv", label: "LTV", num: true, format: money },
    ...Array.from({ length: width }, (_, k) => ({ key: `m${k}`, label: `+${k}`, num: true,
      format: (v) => v == null ? "" : el("span", { className: "heat", style: `--heat:${top > 0 ? Math.max(0, v) / top : 0}` }, money(v)) }))];
  const grid = table("cohorts", columns, rows);
  return el("div", {}, el("p", {}, `${num(c.total_purchasing_users)} purchasing users, lifetime value ${money(c.avg_ltv)} each`),
    el("div", { className: "scroll", tabIndex: 0, role: "region", "aria-label": "Revenue by cohort month" }, grid));
}

async function journey(user) {
  const { events } = await api("/ecommerce/user-journey", { user_id: user, order: "newest", days: shop.retention_days });
  if (!events.length) return el("p", { className: "empty" }, `No events of ${user} in the retention period.`);
  return el("ol", { className: "timeline" }, events.map((e) => el("li", {},
    el("time", { dateTime: e.timestamp }, when(e.timestamp)), " ", el("strong", {}, e.event_type.replaceAll("_", " ")),
    e.transaction_id ? ` ${e.transaction_id}` : "", e.revenue != null ? ` ${money(e.revenue)}` : "",
    e.items?.length ? el("ul", {}, e.items.map((i) => el("li", {}, `${i.item_id} ${i.item_name || ""} × ${i.quantity}`))) : "")));
}

async function fraud(params) {
  const { events } = await api("/ecommerce/fraud-events", { ...params, limit: 50 });
  return table("fraud", [{ key: "timestamp", label: "Time", format: when }, { key: "status", label: "Status" },
    { key: "event_type", label: "Event" }, { key: "transaction_id", label: "Order" }, { key: "user_id", label: "User" },
    { key: "revenue", label: "Revenue", num: true, format: (v) => v == null ? "" : money(v) },
    { key: "reasons", label: "Reasons", format: (v) => (v || []).join(", ") }], events);
}

// ------------------------------------------------------------------ page

// The zones offered: the appspace's, UTC, this browser's, and the view's own if it names another.
function zoneChoices(current) {
  const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = [...new Set([shop.timezone, "UTC", browser, current].filter(Boolean))];
  $("zone").replaceChildren(...zones.map((z) => el("option", { value: z, selected: z === current },
    z === shop.timezone ? `${z} (shop)` : z)));
}

function showSignIn() {
  $("signin").hidden = false;
  $("panels").hidden = true;
  $("controls").hidden = true;
  $("key").focus();
}

async function render() {
  renders += 1;
  delete document.body.dataset.ready;
  const mine = renders;
  const s = state();
  $("range").value = s.range; $("compare").value = s.compare; $("flagged").checked = s.flagged;
  $("window").value = s.window; $("start").value = s.start; $("end").value = s.end; $("model").value = s.model;
  zone = s.tz;
  zoneChoices(zone);
  $("custom-start").hidden = $("custom-end").hidden = s.range !== "custom";
  document.querySelectorAll("#breakdown-tabs [role=tab]").forEach((b) => b.setAttribute("aria-selected", b.dataset.tab === s.tab));
  const range = period(s);
  const previous = comparison(s, range);
  const params = { start: range[0], end: range[1], tz: zone, include_flagged: s.flagged };
  const before = previous && { ...params, start: previous[0], end: previous[1] };
  $("tz").textContent = `${range[0]} – ${range[1]}`;
  await Promise.all([
    panel($("kpis"), () => kpis(params, before)),
    panel($("series"), () => series(params, before)),
    panel($("funnel"), () => funnel(params)),
    panel($("carts"), () => carts(params)),
    panel($("products"), () => products(params)),
    panel($("breakdown"), () => breakdown(params, s.tab)),
    panel($("attribution"), () => attribution(params, s.window, s.model)),
    panel($("cohorts"), () => cohorts(s.flagged)),
    panel($("fraud"), () => fraud({ start: range[0], end: range[1], tz: zone })),
  ]);
  // Ready once the frame with every panel (and the chart, drawn in the next animation frame) is on screen;
  // readyMs is that moment since the navigation began, which bench/dashboard.py reads.
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  if (mine !== renders) return; // a newer render is on its way
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "true";
}

async function start() {
  // One answer: whether this browser is signed in, and its appspace when it is.
  const session = await fetch("/dashboard/session", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({}));
  if (!session.signed_in) {
    if (new URLSearchParams(location.search).get("share") === "expired") {
      $("signin-error").textContent = "This share link has expired or was revoked.";
    }
    showSignIn();
    return;
  }
  shop = session.appspace;
  $("shop").textContent = `${shop.name} · ${shop.base_currency}`;
  $("signin").hidden = true; $("panels").hidden = false; $("controls").hidden = false;
  await render();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  const response = await fetch("/dashboard/session", { method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ key: $("key").value }) });
  $("key").value = "";
  if (!response.ok) {
    $("signin-error").textContent = (await response.json().catch(() => ({}))).error || "Sign-in failed";
    return;
  }
  await start();
});
$("signout").addEventListener("click", async () => {
  await fetch("/dashboard/session", { method: "DELETE", credentials: "same-origin" });
  showSignIn();
});
$("range").addEventListener("change", (e) => setState({ range: e.target.value }));
$("start").addEventListener("change", (e) => setState({ start: e.target.value }));
$("end").addEventListener("change", (e) => setState({ end: e.target.value }));
$("compare").addEventListener("change", (e) => setState({ compare: e.target.value }));
$("flagged").addEventListener("change", (e) => setState({ flagged: e.target.checked }));
$("window").addEventListener("change", (e) => setState({ window: e.target.value }));
$("model").addEventListener("change", (e) => setState({ model: e.target.value }));
$("zone").addEventListener("change", (e) => setState({ tz: e.target.value === shop.timezone ? "" : e.target.value }));
$("breakdown-tabs").addEventListener("click", (e) => e.target.dataset.tab && setState({ tab: e.target.dataset.tab }));
document.querySelectorAll("[data-csv]").forEach((b) => b.addEventListener("click", () => csv(b.dataset.csv)));
$("journey-form").addEventListener("submit", (e) => {
  e.preventDefault();
  panel($("journey"), () => journey($("journey-user").value.trim()));
});
window.addEventListener("popstate", () => shop && render());
start();
