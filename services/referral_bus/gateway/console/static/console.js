// The operations console (docs/console.md): a plain ES module, no build step, no third-party code.
// It reads /v1/ops/* with the signed-in principal's HTTP Basic credentials, refreshes the board
// every 1.5 s, and acknowledges an escalation through the gateway's own POST /v1/events as the
// signed-in agency — the router decides, and its receipt is shown as it came.
// Every time is shown in Asia/Almaty with its offset ("2026-03-04 11:00:05 +05:00").

const REFRESH_MS = 1500;
const ZONE = "Asia/Almaty";
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})/g;
const $ = (id) => document.getElementById(id);
// The date pickers: each shows the Almaty moment its value means (#<id>-moment) and sends that moment.
const PICKERS = ["c-asof", "k-from", "k-to"];

const clock = new Intl.DateTimeFormat("en-CA", {
  timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset",
});

/** An ISO-8601 instant as Almaty wall time with the offset of that moment (the zone database's). */
export function shown(iso) {
  if (!iso) return "-";
  if (Number.isNaN(new Date(iso).getTime())) return String(iso);   // not a time: as it is
  const p = Object.fromEntries(clock.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  const offset = p.timeZoneName.replace("GMT", "") || "+00:00";
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${offset}`;
}

/** Free text (a calendar reasoning line, a refusal) with every ISO instant in it in Almaty time. */
export function localizeText(text) {
  return String(text ?? "").replace(ISO, (m) => shown(m));
}

/** The value of a datetime-local input for an instant, in Almaty wall time. */
function localInput(iso) {
  return shown(iso).slice(0, 19).replace(" ", "T");
}

/** Almaty's offset from UTC, in seconds, at an instant (ms since the epoch): the zone database's, via Intl. */
function offsetAt(ms) {
  const p = Object.fromEntries(clock.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
  const wall = new Date(0);
  wall.setUTCFullYear(p.year, p.month - 1, p.day);
  wall.setUTCHours(p.hour, p.minute, p.second);
  return Math.round((wall.getTime() - Math.floor(ms / 1000) * 1000) / 1000);
}

function offsetText(seconds) {
  const a = Math.abs(seconds);
  const two = (n) => String(n).padStart(2, "0");
  const hhmm = `${seconds < 0 ? "-" : "+"}${two(Math.floor(a / 3600))}:${two(Math.floor(a / 60) % 60)}`;
  return a % 60 ? `${hhmm}:${two(a % 60)}` : hhmm;
}

/**
 * A date picker's value (datetime-local: a wall time without a zone) read as Almaty time, whatever
 * the browser's own time zone: ISO-8601 with the offset Almaty had at that wall time (+06:00 before
 * 2024-03-01). Of an hour Almaty's clocks went through twice, the first — as the gateway reads a time
 * without an offset (Python's fold 0). Not a date and time: returned as it is, for the gateway's 422.
 */
export function almatyMoment(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?$/.exec(String(value ?? "").trim());
  if (!m) return String(value ?? "").trim();
  const wall = new Date(0);
  wall.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  wall.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6] || 0));
  const at = wall.getTime();
  const before = offsetAt(at - 86400e3), after = offsetAt(at + 86400e3);   // a day either side of a change
  const holds = (offset) => offsetAt(at - offset * 1000) === offset;
  const offset = holds(before) ? before : holds(after) ? after : before;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || "00"}${offsetText(offset)}`;
}

/** Under a date picker: the moment its value means, as every time in the console (Almaty, offset). */
function showPicked(input) {
  const out = $(`${input.id}-moment`);
  if (!out) return;
  const moment = almatyMoment(input.value);
  out.replaceChildren(...(input.value ? ["= ", time(moment)] : ["now"]));
}

const state = { auth: null, principal: null, staff: false, actor: "console-1", timer: null, busy: false, me: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "onclick") node.addEventListener("click", v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

function time(iso) {
  return el("time", { class: "t", dateTime: iso || "" }, shown(iso));
}

async function api(path, options = {}) {
  // credentials "omit": the page sends its own Authorization header and uses no cookies; with a
  // browser's own credentials left out, a 401 (wrong password) comes back to the page, which says
  // why — instead of the browser's login dialog popping up over it (or, headless, the request hanging)
  const response = await fetch(path, {
    ...options, credentials: "omit", headers: { Authorization: state.auth, Accept: "application/json", ...(options.headers || {}) },
  });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { status: response.status, body };
}

function problem(answer) {
  const b = answer.body || {};
  return `${b.code || "HTTP " + answer.status}${b.paragraph ? " (¶ " + b.paragraph + ")" : ""}: ${localizeText(b.message || "")}`;
}

// -- sign in ---------------------------------------------------------------------------------
async function signIn(event) {
  event.preventDefault();
  const principal = $("principal").value.trim();
  state.auth = "Basic " + btoa(unescape(encodeURIComponent(`${principal}:${$("password").value}`)));
  state.actor = $("actor").value.trim() || "console-1";
  const answer = await api("/v1/ops/me");
  if (answer.status !== 200) {
    $("login-error").textContent = problem(answer);
    state.auth = null;
    return;
  }
  const me = answer.body;
  state.me = me;
  state.principal = me.principal;
  state.staff = me.staff;
  $("login-error").textContent = "";
  $("whoami").textContent = `${me.principal} (${me.staff ? "sees every city and agency" : "its own board"}; ` +
    `${me.authentication})`;
  $("login").hidden = true;
  $("console").hidden = false;
  fill($("f-city"), me.cities);
  fill($("f-agency"), me.agencies);
  fill($("f-rule"), me.rules);
  fill($("c-agency"), me.staff ? me.agencies : [me.principal]);
  if (!me.staff) $("c-agency").value = me.principal;
  $("c-asof").value = localInput(me.now);
  const now = new Date(me.now);
  $("k-from").value = localInput(new Date(now.getTime() - 30 * 86400e3).toISOString());
  $("k-to").value = localInput(new Date(now.getTime() + 30 * 86400e3).toISOString());
  for (const id of PICKERS) showPicked($(id));
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
  await compliance();
}

function fill(select, values) {
  for (const v of values) select.append(el("option", { value: v }, v));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined && v !== false) q.set(k, v);
  return q.toString();
}

// -- the board -------------------------------------------------------------------------------
async function refresh() {
  if (state.busy || !state.auth) return;
  state.busy = true;
  try {
    const filters = { city: $("f-city").value, agency: $("f-agency").value, rule: $("f-rule").value };
    const [esc, dl] = await Promise.all([
      api("/v1/ops/escalations?" + query({ ...filters, state: $("f-state").value })),
      api("/v1/ops/deadlines?" + query({ ...filters, overdue: $("f-overdue").checked ? "true" : "" })),
    ]);
    if (esc.status === 200) renderEscalations(esc.body.items);
    if (dl.status === 200) renderDeadlines(dl.body.items);
    const now = (esc.body && esc.body.now) || (dl.body && dl.body.now);
    if (now) {
      $("now").dateTime = now;
      $("now").textContent = shown(now);
    }
    $("refreshed").textContent = esc.status === 200 && dl.status === 200 ? "live" : "refresh failed: " +
      problem(esc.status !== 200 ? esc : dl);
  } finally {
    state.busy = false;
  }
}

function caseLink(caseId) {
  return el("button", { class: "link", type: "button", onclick: () => { $("c-case").value = caseId; $("c-purpose").focus(); } },
    caseId);
}

function renderEscalations(items) {
  const body = $("escalations").tBodies[0];
  const rows = items.map((e) => {
    const action = e.state === "open" && !state.staff
      ? el("button", { type: "button", class: "ack", "data-escalation": e.escalation_id,
          onclick: () => acknowledge(e) }, "Acknowledge")
      : e.acknowledged ? el("span", {}, `by ${e.acknowledged.by} at `, time(e.acknowledged.at)) : "";
    return el("tr", { class: `escalation ${e.state}`, "data-escalation": e.escalation_id, "data-case": e.case_id,
        "data-rule": e.rule_id,
        "data-level": String(e.level), "data-state": e.state },
      el("td", {}, caseLink(e.case_id)), el("td", {}, e.city || "-"), el("td", { title: e.title || "" }, e.rule_id),
      el("td", {}, e.paragraph || "-"), el("td", {}, `${e.level} → ${e.escalated_to || "-"}`),
      el("td", {}, e.responsible || "-"), el("td", {}, time(e.due_at)), el("td", { class: "late" }, e.late),
      el("td", { class: "state" }, e.state), el("td", {}, action));
  });
  body.replaceChildren(...rows);
  $("esc-count").textContent = `(${items.length})`;
}

function renderDeadlines(items) {
  const body = $("deadlines").tBodies[0];
  body.replaceChildren(...items.map((d) => el("tr", { class: `deadline-row ${d.status}`, "data-deadline": d.deadline_id,
      "data-case": d.case_id },
    el("td", {}, caseLink(d.case_id)), el("td", {}, d.city || "-"), el("td", { title: d.title || "" }, d.rule_id),
    el("td", {}, d.paragraph), el("td", {}, d.responsible || "-"), el("td", {}, time(d.opened_at)),
    el("td", {}, time(d.due_at)), el("td", { class: "late" }, d.late), el("td", {}, d.status),
    el("td", {}, d.escalation_level || "-"))));
  $("dl-count").textContent = `(${items.length})`;
}

// -- acknowledging: an EscalationAcknowledged through POST /v1/events, as the signed-in agency --
async function acknowledge(e) {
  const box = $("receipt");
  box.hidden = false;
  box.className = "receipt";
  box.textContent = `sending the acknowledgement of level ${e.level} of ${e.rule_id} on ${e.case_id}…`;
  const event = {
    envelope: {
      event_type: "EscalationAcknowledged", event_id: crypto.randomUUID(), case_id: e.case_id,
      occurred_at: new Date().toISOString(), producer: { actor_id: state.actor },
    },
    escalation_id: e.escalation_id, deadline_id: e.deadline_id, level: e.level,
  };
  const answer = await api("/v1/events", {
    method: "POST", body: JSON.stringify(event), headers: { "Content-Type": "application/json" },
  });
  const b = answer.body || {};
  box.replaceChildren();
  if (answer.status === 200 || answer.status === 202) {
    box.className = "receipt ok";
    box.append(el("span", { class: "status" }, b.status), ` — the router's receipt for event ${b.event_id} ` +
      `(${b.receipt_key}) acknowledging level ${e.level} of ${e.rule_id} (¶ ${e.paragraph}) on ${e.case_id}`);
  } else {
    box.className = "receipt refused";
    const refusedBy = b.receipt ? "the router refused it" : "the gateway refused it";
    box.append(el("span", { class: "status" }, `REFUSED ${b.code || answer.status}`),
      b.paragraph ? el("span", { class: "paragraph" }, ` ¶ ${b.paragraph}`) : "",
      ` — ${refusedBy}: ${localizeText(b.message || "")}`);
  }
  box.dataset.status = answer.status === 200 ? b.status : (b.code || String(answer.status));
  await refresh();
}

// -- a case: timeline as of a moment, and its deadlines explained (audited reads) -------------
async function caseRead(kind) {
  const caseId = $("c-case").value.trim();
  $("case-error").textContent = "";
  if (!caseId) { $("case-error").textContent = "case: which case?"; return; }
  const params = { purpose: $("c-purpose").value };
  if (kind === "timeline") Object.assign(params, { as_of: almatyMoment($("c-asof").value), agency: $("c-agency").value });
  const answer = await api(`/v1/ops/cases/${encodeURIComponent(caseId)}/${kind}?` + query(params));
  const out = $("case-out");
  out.replaceChildren();
  if (answer.status !== 200) { $("case-error").textContent = problem(answer); return; }
  $("case-title").textContent = caseId;
  if (kind === "timeline") renderTimeline(out, answer.body); else renderExplain(out, answer.body);
}

function renderTimeline(out, t) {
  out.append(el("p", { class: "muted" }, `as of `, time(t.as_of), " (recorded on the read-audit trail first)"));
  if (t.events) {
    out.append(el("h3", {}, "Events on the case log by then"), table(["#", "event", "by", "occurred", "recorded"],
      t.events.map((e) => [e.sequence, e.event_type, e.producer || "-", time(e.occurred_at), time(e.recorded_at)]),
      "timeline-events"));
  }
  if (t.told) {
    out.append(el("h3", {}, `What ${t.agency} had been told by then`), table(
      ["delivered", "record", "¶", "why"], t.told.map((x) => [time(x.delivered_at), x.record_type, x.paragraph || "-",
        x.purpose || "-"]), "timeline-told"));
  }
}

function table(head, rows, id) {
  const t = el("table", { id }, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
  return rows.length ? t : el("div", {}, t, el("p", { class: "muted" }, "nothing by then"));
}

function renderExplain(out, x) {
  for (const d of x.deadlines) {
    out.append(el("div", { class: "deadline explain" },
      el("strong", {}, `${d.rule_id} (¶ ${d.paragraph}) — ${d.title}`), el("br"),
      `status ${d.status}; responsible ${d.responsible_agency_id || "-"}; started `, time(d.started_at), `; due `,
      time(d.due_at), d.completed_at ? el("span", {}, "; completed ", time(d.completed_at)) : "",
      d.escalated_to.length ? `; escalated to ${d.escalated_to.join(", ")}` : "",
      el("div", { class: "muted" }, `clock: ${d.clock}; rule ${d.in_force}`),
      el("ul", { class: "reasoning" }, ...d.reasoning.map((line) => el("li", {}, localizeText(line))))));
  }
  if (!x.deadlines.length) out.append(el("p", { class: "muted" }, "no deadlines on this case"));
}

// -- compliance chart (inline SVG) -----------------------------------------------------------
const SEGMENTS = [
  ["met", "#2e7d32", (r) => r.met], ["completed late", "#b26a00", (r) => r.completed_late],
  ["breached, still open", "#b3261e", (r) => r.breached_open], ["open, not breached", "#8a94a3",
    (r) => r.open - r.breached_open],
];

async function compliance(event) {
  if (event) event.preventDefault();
  const answer = await api("/v1/ops/compliance?" + query({
    from: almatyMoment($("k-from").value), to: almatyMoment($("k-to").value), city: $("f-city").value }));
  const chart = $("chart");
  if (answer.status !== 200) { chart.textContent = problem(answer); return; }
  $("k-window").replaceChildren("due ", time(answer.body.from), " – ", time(answer.body.to));
  chart.replaceChildren(svgChart(answer.body.rows));
}

function svgChart(rows) {
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const label = 440, bar = 420, h = 22;
  const svg = s("svg", { width: label + bar + 240, height: (rows.length + 1) * h + 30, role: "img",
    "aria-label": "deadline compliance per rule, agency and city" });
  const max = Math.max(1, ...rows.map((r) => r.due));
  rows.forEach((r, i) => {
    const y = i * h + 4;
    svg.append(s("text", { x: 0, y: y + 14 }, `${r.rule_id} · ${r.agency} · ${r.city}`));
    let x = label;
    for (const [name, colour, count] of SEGMENTS) {
      const n = count(r);
      if (n <= 0) continue;
      const w = (n / max) * bar;
      const rect = s("rect", { x, y, width: w, height: h - 6, fill: colour });
      rect.append(s("title", {}, `${name}: ${n}`));
      svg.append(rect);
      x += w;
    }
    const share = r.met_share === null ? "no closed deadlines" : `${Math.round(r.met_share * 100)} % met`;
    svg.append(s("text", { x: x + 6, y: y + 14 }, `${r.due} due · ${share}`));
  });
  if (!rows.length) {
    svg.append(s("text", { x: 0, y: 16 }, state.staff ? "no deadlines due in this window"
      : `no deadlines ${state.principal} is responsible for are due in this window`));
  }
  const wrap = el("div");
  const legend = el("div", { class: "legend" }, ...SEGMENTS.map(([name, colour]) =>
    el("span", {}, Object.assign(el("i"), { style: `background:${colour}` }), name)));
  wrap.append(legend, svg);
  return wrap;
}

// -- wiring ----------------------------------------------------------------------------------
$("login-form").addEventListener("submit", signIn);
for (const id of ["f-city", "f-agency", "f-rule", "f-state", "f-overdue"]) $(id).addEventListener("change", refresh);
$("case-form").addEventListener("submit", (e) => { e.preventDefault(); caseRead("timeline"); });
$("c-explain").addEventListener("click", () => caseRead("explain"));
$("compliance-form").addEventListener("submit", compliance);
for (const id of PICKERS) $(id).addEventListener("input", (e) => showPicked(e.target));
