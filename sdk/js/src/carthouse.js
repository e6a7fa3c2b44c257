// The Carthouse browser tracker: `carthouse('init', {key})`, then `carthouse('track', type, fields)`.
// Built by esbuild into one minified file (make; served at /sdk/carthouse.js). Every option is in docs/SDK.md.

const BATCH_PATH = "/v1/api/analytics/ecommerce/batch";
const FLUSH_AT = 20;
const FLUSH_MS = 2000;
// sendBeacon and keepalive fetches carry at most 64 KiB.
const BODY_LIMIT = 60000;
const OUTBOX_LIMIT = 1000;
const VISIT_MS = 30 * 60 * 1000;
const RETRY_MAX_MS = 60000;
const CART_EVENTS = ["add_to_cart", "remove_from_cart", "view_cart", "begin_checkout", "add_payment_info",
  "purchase"];
// Ad click ids name the source when a landing URL has no utm_ parameters.
const CLICK_IDS = { gclid: ["google", "cpc"], msclkid: ["bing", "cpc"], fbclid: ["facebook", "social"] };
const STORED = { aid: "carthouse_aid", uid: "carthouse_uid", cart: "carthouse_cart", visit: "carthouse_visit",
  outbox: "carthouse_outbox", consent: "carthouse_consent" };

const win = window;
const nav = navigator;
const script = document.currentScript;
let config = null;
let consent = "";
let userId = "";
let anonymousId = "";
let cartId = "";
let campaign = null;
let outbox = [];
let sending = false;
let failures = 0;
let retryAt = 0;
let timer = 0;
// Server time minus this browser's, from the last answer's Date header (null until one arrives).
let skew = null;

function warn(...args) {
  console.warn("carthouse:", ...args);
}

// Nothing is written to (or read from) storage unless the visitor agreed or the site says no consent is needed.
function storing() {
  return consent === "granted" || (config !== null && config.consentRequired === false);
}

function load(name) {
  try {
    return JSON.parse(localStorage.getItem(STORED[name]));
  } catch {
    return null;
  }
}

function save(name, value) {
  if (!storing()) return;
  try {
    localStorage.setItem(STORED[name], JSON.stringify(value));
  } catch {
    // Storage full or blocked: the tracker goes on in memory.
  }
}

function forgetAll() {
  try {
    for (const name in STORED) localStorage.removeItem(STORED[name]);
  } catch {
    // Blocked storage holds nothing of ours.
  }
}

function uuid() {
  // crypto.randomUUID exists only on secure origins; getRandomValues everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function ignored() {
  if (win.carthouseOptOut === true) return true;
  if (config.respectDoNotTrack && (nav.doNotTrack === "1" || nav.globalPrivacyControl === true)) return true;
  const local = /^(localhost|127(\.\d+){3}|\[::1\])$/.test(location.hostname) || location.protocol === "file:";
  return local && !config.trackLocalhost;
}

function landingCampaign() {
  const query = new URLSearchParams(location.search);
  const found = {};
  for (const name of ["utm_campaign", "utm_source", "utm_medium"]) {
    if (query.get(name)) found[name] = query.get(name);
  }
  for (const id in CLICK_IDS) {
    if (!found.utm_source && query.get(id)) [found.utm_source, found.utm_medium] = CLICK_IDS[id];
  }
  if (!found.utm_source && !found.utm_campaign) return null;
  // Only an event with a campaign is a touch; a tagged link without one is still this channel's visit.
  found.utm_campaign = found.utm_campaign || "(not set)";
  return found;
}

// The identity and the visit's campaign, from storage when allowed; called at init and when consent changes.
function restore() {
  if (storing()) {
    anonymousId = load("aid") || uuid();
    save("aid", anonymousId);
    userId = userId || load("uid") || "";
    cartId = cartId || load("cart") || "";
    const visit = load("visit");
    if (!campaign && visit && Date.now() - visit.at < VISIT_MS) campaign = visit.campaign;
    const kept = load("outbox") || [];
    const known = new Set(outbox.map((event) => event.event_id));
    outbox = kept.filter((event) => !known.has(event.event_id)).concat(outbox);
    persist();
  } else {
    anonymousId = "";
  }
}

function persist() {
  if (outbox.length > OUTBOX_LIMIT) {
    warn(`${outbox.length - OUTBOX_LIMIT} undelivered event(s) dropped, the oldest (outbox full)`);
    outbox = outbox.slice(-OUTBOX_LIMIT);
  }
  save("outbox", outbox);
  if (campaign) save("visit", { campaign, at: Date.now() });
}

function track(type, fields) {
  if (!config || ignored()) return;
  const event = { event_type: type, ...fields, event_id: uuid() };
  if (CART_EVENTS.includes(type)) {
    cartId = event.cart_id || cartId || uuid();
    event.cart_id = cartId;
    if (type === "purchase") cartId = "";
    save("cart", cartId);
  }
  if (!event.user_id && userId) event.user_id = userId;
  if (anonymousId) event.anonymous_id = anonymousId;
  if (campaign) event.properties = { ...campaign, ...event.properties };
  // The moment, kept on the side: the timestamp sent is made from it at sending time (see stamped).
  outbox.push({ event_id: event.event_id, at: Date.now(), event });
  persist();
  if (type === "purchase" || type === "refund" || outbox.length >= FLUSH_AT) flush();
  else if (!timer) timer = setTimeout(flush, FLUSH_MS);
}

// The event as sent: its time on the server's clock once an answer told us the offset; a fresh event before
// that goes without one (the server's time of receipt is then right, and a browser's wrong clock cannot
// push it out of the accepted range).
function stamped(entry) {
  const age = Date.now() - entry.at;
  if (skew === null && age < 60000) return entry.event;
  return { ...entry.event, timestamp: new Date(entry.at + (skew || 0)).toISOString() };
}

function body(entries) {
  return JSON.stringify({ apiKey: config.key, events: entries.map(stamped) });
}

// The first entries of the outbox that fit one request.
function nextBatch() {
  let batch = outbox.slice(0, FLUSH_AT);
  while (batch.length > 1 && body(batch).length > BODY_LIMIT) batch = batch.slice(0, batch.length >> 1);
  return batch;
}

function settle(batch) {
  const sent = new Set(batch.map((entry) => entry.event_id));
  outbox = outbox.filter((entry) => !sent.has(entry.event_id));
  persist();
}

async function flush() {
  clearTimeout(timer);
  timer = 0;
  if (sending || !outbox.length) return;
  if (Date.now() < retryAt) {
    timer = setTimeout(flush, retryAt - Date.now());
    return;
  }
  sending = true;
  const batch = nextBatch();
  let wait = 0;
  try {
    const text = body(batch);
    const answer = await fetch(config.endpoint + BATCH_PATH, { method: "POST", body: text,
      keepalive: text.length <= BODY_LIMIT, credentials: "omit" });
    const date = Date.parse(answer.headers.get("date"));
    if (date) skew = date - Date.now();
    if (answer.status === 429 || answer.status >= 500) {
      wait = Number(answer.headers.get("retry-after")) * 1000 || 0;
      throw new Error(`HTTP ${answer.status}`);
    }
    const result = await answer.json().catch(() => ({}));
    // Refused events are not sent again (nothing would change): the server's reasons, once.
    if (answer.status !== 200) warn(`${batch.length} event(s) refused:`, result.error || answer.status);
    for (const error of result.errors || []) warn("event refused:", error);
    settle(batch);
    failures = 0;
  } catch (problem) {
    failures += 1;
    const backoff = Math.min(RETRY_MAX_MS, 1000 * 2 ** failures) * (0.5 + Math.random() / 2);
    retryAt = Date.now() + Math.max(wait, backoff);
    timer = setTimeout(flush, retryAt - Date.now());
    warn(`sending failed (${problem.message}); trying again in ${Math.round((retryAt - Date.now()) / 1000)} s`);
    return;
  } finally {
    sending = false;
  }
  if (outbox.length) flush();
}

// Leaving the page: what is left goes by sendBeacon, which outlives the page. The entries stay in the stored
// outbox, so that the next page sends them once more if the beacon was lost; the server keeps one copy.
function beacon() {
  if (!config || !outbox.length || !nav.sendBeacon) return;
  for (let start = 0; start < outbox.length; start += FLUSH_AT) {
    nav.sendBeacon(config.endpoint + BATCH_PATH, body(outbox.slice(start, start + FLUSH_AT)));
  }
  if (!storing()) outbox = [];
}

const commands = {
  init(options) {
    if (!options || !options.key) return warn("init needs {key}");
    const origin = script && script.src ? new URL(script.src).origin : location.origin;
    config = { endpoint: origin, ...options };
    config.endpoint = config.endpoint.replace(/\/+$/, "");
    consent = load("consent") === "granted" ? "granted" : consent;
    // Ignored (opted out, Do-Not-Track, localhost): nothing is read, written or sent on this page.
    if (ignored()) return;
    campaign = landingCampaign();
    restore();
    win.addEventListener("pagehide", beacon);
    if (outbox.length) flush();
  },
  track,
  identify(id) {
    userId = id ? String(id) : "";
    save("uid", userId);
  },
  consent(state) {
    consent = state === "granted" ? "granted" : "denied";
    if (consent === "denied") forgetAll();
    else save("consent", consent);
    if (config && !ignored()) restore();
  },
  flush,
};

function carthouse(name, ...args) {
  if (name !== "init" && name !== "consent" && !config) return warn(`call init before ${name}`);
  if (commands[name]) return commands[name](...args);
  warn(`unknown command ${name}`);
}

// Calls made before this file loaded, in their order.
const queued = (win.carthouse && win.carthouse.q) || [];
win.carthouse = carthouse;
for (const call of queued) carthouse(...call);
