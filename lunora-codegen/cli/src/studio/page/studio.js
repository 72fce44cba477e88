// Lunora Studio's page. Every string from the server is user data (instance ids, step names,
// error messages, payloads): it is written with textContent / text nodes, never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="studio-token"]').content;
const POLL_MS = 2000;
const TERMINAL = new Set(["complete", "errored", "terminated"]);
const STATUSES = ["queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause", "unknown"];
const main = document.getElementById("main");
let pollTimer = null;
let renderToken = 0;

// ---- DOM helpers -------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function statusBadge(status) {
  const text = status || "unknown";
  return el("span", { class: "status status-" + text.replace(/[^A-Za-z]/g, "") }, text);
}
function json(value) { return el("pre", {}, value === undefined || value === null ? "—" : JSON.stringify(value, null, 2)); }
function errorText(error) { return error ? (error.name ? error.name + ": " : "") + error.message : ""; }
function notice(text) { document.getElementById("notice").textContent = text; }
function failure(error) {
  const box = document.getElementById("failure");
  box.replaceChildren();
  if (!error) return;
  box.append(el("strong", {}, "The API refused: "), error.message);
  for (const detail of error.details || []) box.append(el("div", {}, "[" + detail.code + "] " + detail.message));
}
function crumbs(items) {
  const list = document.getElementById("crumbs");
  list.replaceChildren(...items.map(([text, href], i) =>
    el("li", {}, i === items.length - 1 ? el("span", { "aria-current": "page" }, text) : el("a", { href }, text))));
}
function hashFor(...parts) { return "#/" + parts.map(encodeURIComponent).join("/"); }
function ms(value) { const t = value ? Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : value + "Z") : NaN; return Number.isNaN(t) ? null : t; }
function duration(millis) {
  if (millis === null || millis === undefined) return "";
  if (millis < 1000) return Math.round(millis) + " ms";
  if (millis < 60000) return (millis / 1000).toFixed(millis < 10000 ? 2 : 1) + " s";
  if (millis < 3600000) return (millis / 60000).toFixed(1) + " min";
  return (millis / 3600000).toFixed(1) + " h";
}

// ---- The studio's JSON API ---------------------------------------------------------------
async function api(path, body) {
  const init = { method: "GET", headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["content-type"] = "application/json";
    init.headers["x-studio-token"] = TOKEN;
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch (_) { throw new Error("HTTP " + response.status + " with an answer that is not JSON"); }
  if (!response.ok) {
    const error = new Error(data.error || "HTTP " + response.status);
    error.details = data.errors || [];
    throw error;
  }
  return data;
}
function instancePath(workflow, id) {
  return "/api/workflows/" + encodeURIComponent(workflow) + "/instances/" + encodeURIComponent(id);
}

// ---- Routing: #/  #/w/<workflow>?status=&page=&id=  #/w/<workflow>/i/<id> -----------------
function route(keepMessages) {
  clearTimeout(pollTimer);
  if (keepMessages !== true) {
    notice("");
    failure(null);
  }
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  let parts;
  try { parts = path ? path.split("/").map(decodeURIComponent) : []; } catch (_) { parts = ["?"]; }
  const params = new URLSearchParams(search || "");
  const token = ++renderToken;
  let page;
  if (parts.length === 0) page = workflowsPage(token);
  else if (parts.length === 2 && parts[0] === "w") page = instancesPage(token, parts[1], params);
  else if (parts.length === 4 && parts[0] === "w" && parts[2] === "i") page = instancePage(token, parts[1], parts[3]);
  else page = Promise.resolve(show(el("p", {}, "No such page. ", el("a", { href: "#/" }, "Back to the workflows"))));
  page.catch((error) => { if (token === renderToken) { show(el("p", {}, "This page could not be loaded.")); failure(error); } });
}
function show(...nodes) { main.replaceChildren(...nodes.flat()); }

// ---- Workflows ---------------------------------------------------------------------------
async function workflowsPage(token) {
  crumbs([["Workflows", "#/"]]);
  document.title = "Workflows · Lunora Studio";
  const data = await api("/api/workflows");
  if (token !== renderToken) return;
  const sections = data.workflows.map(({ workflow, recent }) => el("section", { class: "workflow" },
    el("h2", {}, el("a", { href: hashFor("w", workflow.name), class: "workflow-link" }, workflow.name)),
    recent.error ? el("p", { class: "api-error" }, recent.error) : instanceTable(workflow.name, recent.instances, "Recent instances of " + workflow.name)));
  show(el("h1", {}, "Workflows"), sections.length ? sections : el("p", {}, "This account has no workflows."));
}
function instanceTable(workflow, instances, caption) {
  if (!instances.length) return el("p", { class: "muted" }, "No instances.");
  return el("table", {},
    el("caption", { class: "muted" }, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Instance"), el("th", { scope: "col" }, "Status"),
      el("th", { scope: "col" }, "Created"), el("th", { scope: "col" }, "Ended"))),
    el("tbody", {}, instances.map((i) => el("tr", { class: "instance-row" },
      el("td", {}, el("a", { href: hashFor("w", workflow, "i", i.id), class: "instance-link" }, i.id)),
      el("td", {}, statusBadge(i.status_text || i.status)),
      el("td", {}, i.created_on || "—"), el("td", {}, i.ended_on || "—")))));
}

// ---- A workflow's instances --------------------------------------------------------------
async function instancesPage(token, workflow, params) {
  crumbs([["Workflows", "#/"], [workflow, hashFor("w", workflow)]]);
  document.title = workflow + " · Lunora Studio";
  const status = params.get("status") || "";
  const id = params.get("id") || "";
  const pageNo = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const perPage = 20;
  const query = new URLSearchParams({ page: pageNo, per_page: perPage });
  if (status) query.set("status", status);
  if (id) query.set("id", id);
  const data = await api("/api/workflows/" + encodeURIComponent(workflow) + "/instances?" + query);
  if (token !== renderToken) return;
  const go = (next) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v) q.set(k, v);
    location.hash = hashFor("w", workflow) + (q.toString() ? "?" + q : "");
  };
  const statusSelect = el("select", { id: "status-filter", name: "status" },
    el("option", { value: "" }, "Any status"), STATUSES.map((s) => el("option", { value: s, selected: s === status }, s)));
  const idInput = el("input", { id: "id-search", name: "id", type: "search", value: id, autocomplete: "off" });
  const form = el("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); go({ status: statusSelect.value, id: idInput.value.trim() }); } },
    el("label", { for: "status-filter" }, "Status", statusSelect),
    el("label", { for: "id-search" }, "Instance id", idInput),
    el("button", { type: "submit", class: "primary" }, "Apply"));
  const total = data.total_count;
  // The API's own paging figures are data too: a zero or missing page size means "unknown".
  const pages = total && data.per_page > 0 ? Math.max(1, Math.ceil(total / data.per_page)) : null;
  const hasNext = pages ? pageNo < pages : data.per_page > 0 && data.instances.length >= data.per_page;
  const pager = el("nav", { class: "pager", "aria-label": "Pages" },
    el("button", { type: "button", id: "prev-page", disabled: pageNo <= 1 || !!id, onclick: () => go({ status, page: pageNo - 1 }) }, "Previous"),
    el("span", { id: "page-info" }, "Page " + pageNo + (pages ? " of " + pages : "") + (total !== null && total !== undefined ? " · " + total + " instances" : "")),
    el("button", { type: "button", id: "next-page", disabled: !hasNext || !!id, onclick: () => go({ status, page: pageNo + 1 }) }, "Next"));
  show(el("h1", {}, workflow), form, instanceTable(workflow, data.instances, "Instances of " + workflow), pager);
}

// ---- An instance -------------------------------------------------------------------------
const openSteps = new Map(); // instance key → index of the timeline entry shown in detail

async function instancePage(token, workflow, id) {
  crumbs([["Workflows", "#/"], [workflow, hashFor("w", workflow)], [id, hashFor("w", workflow, "i", id)]]);
  document.title = id + " · Lunora Studio";
  const detail = await api(instancePath(workflow, id));
  if (token !== renderToken) return;
  renderInstance(workflow, detail);
  if (!TERMINAL.has(detail.status)) {
    // Live refresh while the instance can still change.
    pollTimer = setTimeout(function poll() {
      api(instancePath(workflow, id)).then((next) => {
        if (token !== renderToken) return;
        renderInstance(workflow, next);
        if (!TERMINAL.has(next.status)) pollTimer = setTimeout(poll, POLL_MS);
      }, (error) => { if (token === renderToken) { failure(error); pollTimer = setTimeout(poll, POLL_MS * 2); } });
    }, POLL_MS);
  }
}

let lastRendered = null; // the instance JSON on screen, to redraw only the chart when unchanged

function renderInstance(workflow, detail) {
  const rendered = JSON.stringify([workflow, detail]);
  const holder = document.getElementById("gantt-holder");
  if (holder && rendered === lastRendered) {
    // Nothing changed but time: move the chart's current point, leave the controls alone.
    holder.replaceChildren(gantt(workflow, detail));
    return;
  }
  lastRendered = rendered;
  const focused = document.activeElement && document.activeElement.id;
  const running = !TERMINAL.has(detail.status);
  const actions = el("div", { class: "actions", role: "toolbar", "aria-label": "Actions" },
    el("button", { type: "button", id: "action-pause", disabled: !running, onclick: () => act(workflow, detail, "pause") }, "Pause"),
    el("button", { type: "button", id: "action-resume", disabled: !running, onclick: () => act(workflow, detail, "resume") }, "Resume"),
    el("button", { type: "button", id: "action-terminate", class: "danger", disabled: !running, onclick: () => act(workflow, detail, "terminate") }, "Terminate…"),
    el("button", { type: "button", id: "action-restart", onclick: () => act(workflow, detail, "restart") }, "Restart…"),
    el("button", { type: "button", id: "action-event", onclick: () => sendEvent(workflow, detail) }, "Send event…"));
  show(
    el("h1", {}, "Instance ", el("span", { id: "instance-id" }, detail.id)),
    el("p", {}, "Status: ", el("span", { id: "instance-status" }, statusBadge(detail.status_text || detail.status)),
      detail.start ? el("span", { class: "muted" }, "  started " + detail.start) : null,
      detail.end ? el("span", { class: "muted" }, "  ended " + detail.end) : null),
    actions,
    el("div", { class: "grid" },
      el("section", {}, el("h2", {}, "Params"), json(detail.params)),
      el("section", {}, el("h2", {}, "Output"), json(detail.output)),
      el("section", {}, el("h2", {}, "Error"), el("pre", { id: "instance-error", class: detail.error ? "api-error" : "" }, detail.error ? errorText(detail.error) : "—"))),
    el("h2", { id: "timeline-title" }, "Step timeline"),
    el("div", { id: "gantt-holder" }, gantt(workflow, detail)));
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

// ---- The Gantt chart ---------------------------------------------------------------------
function span(entry) { return [ms(entry.start), ms(entry.end)]; }

function gantt(workflow, detail) {
  const steps = detail.steps || [];
  const running = !TERMINAL.has(detail.status);
  const now = Date.now();
  const times = [ms(detail.queued), ms(detail.start), ms(detail.end)];
  for (const step of steps) {
    times.push(...span(step));
    for (const attempt of step.attempts || []) times.push(...span(attempt));
  }
  const known = times.filter((t) => t !== null);
  if (!steps.length || !known.length) return el("p", { id: "gantt-empty", class: "muted" }, "No steps yet.");
  const t0 = Math.min(...known);
  let t1 = running ? Math.max(now, ...known) : Math.max(...known);
  if (t1 <= t0) t1 = t0 + 1;
  const x = (t) => ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * 100;
  const place = (node, from, to) => {
    node.style.left = x(from) + "%";
    node.style.width = Math.max(0, x(to) - x(from)) + "%";
    return node;
  };
  const axis = el("div", { class: "gantt-axis", "aria-hidden": "true" },
    [0, 0.25, 0.5, 0.75, 1].map((f) => { const s = el("span", {}, "+" + duration((t1 - t0) * f)); s.style.left = f * 100 + "%"; return s; }));
  const key = workflow + "\u0000" + detail.id;
  const details = el("section", { id: "step-details", "aria-live": "polite" });
  const rows = steps.map((step, index) => {
    const kind = step.type || "unknown";
    const [start, end] = span(step);
    const endOr = end !== null ? end : (running ? t1 : start);
    const track = el("span", { class: "gantt-track" });
    const attempts = step.attempts || [];
    let summary;
    if (kind === "step" || kind === "rollback") {
      let previousEnd = null;
      attempts.forEach((attempt, n) => {
        const [a0, a1] = span(attempt);
        if (a0 === null) return;
        if (previousEnd !== null && a0 > previousEnd) track.append(place(el("span", { class: "gap", title: "retry delay " + duration(a0 - previousEnd) }), previousEnd, a0));
        const failed = attempt.success === false;
        const open = attempt.success === null || attempt.success === undefined;
        const end = a1 !== null ? a1 : (running ? t1 : a0);
        track.append(place(el("span", {
          class: "bar attempt " + (kind === "rollback" ? "rollback " : "") + (failed ? "failed" : open ? "running" : "ok"),
          title: "attempt " + (n + 1) + (failed ? " failed: " + errorText(attempt.error) : open ? " running" : " succeeded") + " · " + duration(end - a0),
        }), a0, end));
        previousEnd = end;
      });
      if (!track.childElementCount && start !== null) {
        track.append(place(el("span", { class: "bar " + (kind === "rollback" ? "rollback" : end === null ? "running" : "step") }), start, endOr));
      }
      summary = kind + ", " + attempts.length + (attempts.length === 1 ? " attempt" : " attempts");
    } else if (kind === "sleep" || kind === "waitForEvent") {
      if (start !== null) track.append(place(el("span", { class: "bar " + (kind === "sleep" ? "sleep" : "wait") + (end === null ? " open" : "") }), start, endOr));
      summary = kind === "sleep" ? "sleep" : "wait for event" + (step.finished ? ", received" : end === null ? ", waiting" : "");
    } else if (kind === "termination") {
      const at = ms(detail.end) !== null ? ms(detail.end) : t1;
      const marker = el("span", { class: "marker", title: "terminated" });
      marker.style.left = "calc(" + x(at) + "% - 2px)";
      track.append(marker);
      summary = "terminated" + (step.trigger && step.trigger.source ? " by " + step.trigger.source : "");
    } else {
      summary = kind;
    }
    if (running && index === steps.length - 1) {
      const marker = el("span", { class: "now", title: "now" });
      marker.style.left = x(now) + "%";
      track.append(marker);
    }
    const name = step.name || (kind === "termination" ? "termination" : kind);
    const took = start !== null && end !== null ? " · " + duration(end - start) : "";
    const row = el("button", {
      type: "button", class: "gantt-row gantt-" + kind, "data-kind": kind, "data-attempts": attempts.length,
      "aria-expanded": String(openSteps.get(key) === index), "aria-controls": "step-details",
      "aria-label": name + ": " + summary + took,
      onclick: () => { openSteps.set(key, openSteps.get(key) === index ? undefined : index); renderDetails(); },
    }, el("span", { class: "gantt-label" }, name), track);
    return row;
  });
  function renderDetails() {
    const index = openSteps.get(key);
    rows.forEach((row, i) => row.setAttribute("aria-expanded", String(i === index)));
    details.replaceChildren();
    if (index === undefined || !steps[index]) return;
    const step = steps[index];
    details.append(el("h3", {}, (step.name || step.type) + " (" + step.type + ")"),
      el("p", { class: "muted" }, (step.start || "—") + " → " + (step.end || (running ? "running" : "—"))));
    if (step.config !== undefined) details.append(el("h4", {}, "Config"), json(step.config));
    if (step.output !== undefined) details.append(el("h4", {}, step.type === "waitForEvent" ? "Event payload" : "Output"), json(step.output));
    if (step.error) details.append(el("h4", {}, "Error"), el("pre", { class: "api-error" }, errorText(step.error)));
    const attempts = step.attempts || [];
    if (attempts.length) {
      details.append(el("h4", {}, "Attempts"), el("ol", { class: "attempts" }, attempts.map((a) => el("li", {},
        (a.success === false ? "failed" : a.success ? "succeeded" : "running") + " · " + (a.start || "—") + " → " + (a.end || "—"),
        a.error ? el("pre", { class: "api-error" }, errorText(a.error)) : null))));
    }
  }
  renderDetails();
  const legend = el("div", { class: "legend", "aria-hidden": "true" },
    [["ok", "attempt succeeded", "var(--ok)"], ["failed", "attempt failed", "var(--bad)"], ["sleep", "sleep", "var(--sleep)"],
     ["wait", "event wait", "var(--wait)"], ["rollback", "rollback", "var(--rollback)"]].map(([, text, colour]) => {
      const swatch = el("i"); swatch.style.background = colour; return el("span", {}, swatch, text); }));
  return el("div", {}, el("div", { class: "gantt", role: "group", "aria-labelledby": "timeline-title" }, axis, rows), legend, details);
}

// ---- Actions, each confirmed -------------------------------------------------------------
const dialog = document.getElementById("confirm");
function confirmAction(title, text, fields) {
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-fields").replaceChildren(...(fields || []));
  return new Promise((resolve) => {
    const ok = document.getElementById("confirm-ok");
    const cancel = document.getElementById("confirm-cancel");
    const done = (value) => { ok.onclick = cancel.onclick = dialog.oncancel = null; dialog.close(); resolve(value); };
    ok.onclick = () => done(true);
    cancel.onclick = () => done(false);
    dialog.oncancel = (e) => { e.preventDefault(); done(false); };
    dialog.showModal();
    (fields && fields.length ? dialog.querySelector("input, select, textarea") : cancel).focus();
  });
}
async function perform(what, promise, workflow, id) {
  notice("");
  failure(null);
  try {
    const result = await promise;
    notice(what + " done" + (result && result.status_text ? ": status " + result.status_text : "") + ".");
  } catch (error) {
    failure(error);
  }
  // Show what the action changed, keeping its outcome on screen.
  if (location.hash === hashFor("w", workflow, "i", id)) route(true);
}
async function act(workflow, detail, action) {
  const id = detail.id;
  const body = { action };
  let fields = [];
  let rollback, from;
  if (action === "terminate") {
    rollback = el("input", { type: "checkbox", id: "confirm-rollback" });
    fields = [el("label", { class: "inline", for: "confirm-rollback" }, rollback, " Run the completed steps' rollbacks first")];
  } else if (action === "restart") {
    const counts = new Map();
    const choices = [];
    for (const step of detail.steps || []) {
      const type = step.type === "step" ? "do" : step.type;
      if (!["do", "sleep", "waitForEvent"].includes(type)) continue;
      // Cloudflare names a step "<name>-<count>" in the timeline; restart takes them apart.
      const suffixed = /^(.+)-([1-9][0-9]*)$/.exec(step.name);
      if (suffixed) {
        choices.push({ name: suffixed[1], count: Number(suffixed[2]), type });
        continue;
      }
      const k = type + "\u0000" + step.name;
      counts.set(k, (counts.get(k) || 0) + 1);
      choices.push({ name: step.name, count: counts.get(k), type });
    }
    from = el("select", { id: "confirm-from" }, el("option", { value: "" }, "The beginning"),
      choices.map((c, i) => el("option", { value: String(i) }, c.name + (c.count > 1 ? " #" + c.count : "") + " (" + c.type + ")")));
    from.choices = choices;
    fields = [el("label", { for: "confirm-from" }, "Restart from", from)];
  }
  const verbs = { pause: "Pause", resume: "Resume", terminate: "Terminate", restart: "Restart" };
  if (!(await confirmAction(verbs[action] + " this instance?", "Instance " + id + " of " + workflow + ".", fields))) return;
  if (rollback && rollback.checked) body.rollback = true;
  if (from && from.value !== "") body.from = from.choices[Number(from.value)];
  await perform(verbs[action], api(instancePath(workflow, id) + "/status", body), workflow, id);
}
async function sendEvent(workflow, detail) {
  const type = el("input", { id: "event-type", type: "text", required: true, autocomplete: "off" });
  const payload = el("textarea", { id: "event-payload", rows: 5 }, "{}");
  const problem = el("p", { id: "event-problem", class: "api-error", hidden: true, role: "alert" });
  for (;;) {
    const fields = [el("label", { for: "event-type" }, "Event type", type), el("label", { for: "event-payload" }, "Payload (JSON)", payload), problem];
    if (!(await confirmAction("Send an event?", "To instance " + detail.id + " of " + workflow + ".", fields))) return;
    let parsed;
    try {
      if (!type.value.trim()) throw new Error("the event type is empty");
      parsed = payload.value.trim() ? JSON.parse(payload.value) : null;
    } catch (error) {
      problem.hidden = false;
      problem.textContent = "Not sent: " + error.message;
      continue;
    }
    await perform("Send event", api(instancePath(workflow, detail.id) + "/events", { type: type.value.trim(), payload: parsed }), workflow, detail.id);
    return;
  }
}

window.addEventListener("hashchange", () => route());
route();
