// The inspector's only script (no build step, no library): buttons and forms call the public control API with
// fetch, secrets are revealed on click, and the journal page polls GET /_rivosim/journal for new entries.
"use strict";

(function () {
  const flash = (text, isError) => {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = isError ? "error" : "ok";
    box.hidden = false;
  };

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const err = data && data.error ? data.error : {};
      const where = err.field ? ` (${err.field})` : "";
      throw new Error(`${method} ${url} → ${response.status}: ${err.message || response.statusText}${where}`);
    }
    return data;
  }

  function formBody(form) {
    if (form.dataset.body === "json") {
      const text = form.querySelector("textarea").value;
      try { return JSON.parse(text); } catch (e) { throw new Error(`not valid JSON: ${e.message}`); }
    }
    const out = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (value !== "") out[name] = value;  // a field left empty is left out (the API's default)
    }
    return out;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function then(el, answer) {
    // After a redelivery, wait (up to 10 s) for the new attempt's outcome: the server's tick makes it at once on
    // either clock. Nothing here moves the clock.
    if (el.dataset.then === "await-delivery" && answer) {
      const url = `/_rivosim/webhooks/deliveries/${encodeURIComponent(answer.id)}`;
      const before = answer.attempts.length;
      for (let i = 0; i < 50; i++) {
        const now = await call("GET", url);
        if (now.attempts.length > before && now.status !== "in_flight") break;
        await sleep(200);
      }
    }
    window.location.reload();
  }

  document.addEventListener("click", async (event) => {
    const secret = event.target.closest("[data-secret]");
    if (secret) {
      const shown = secret.dataset.shown === "1";
      secret.textContent = shown ? secret.dataset.masked : secret.dataset.secret;
      secret.dataset.shown = shown ? "0" : "1";
      return;
    }
    const button = event.target.closest("[data-call]");
    if (!button) return;
    event.preventDefault();
    const [method, url] = button.dataset.call.split(" ");
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    button.disabled = true;
    try {
      const answer = await call(method, url, body);
      await then(button, answer);
    } catch (e) {
      flash(e.message, true);
      button.disabled = false;
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.api-form");
    if (!form) return;
    event.preventDefault();
    try {
      const answer = await call(form.dataset.method, form.dataset.url, formBody(form));
      await then(form, answer);
    } catch (e) {
      flash(e.message, true);
    }
  });

  // Pretty-print payloads.
  for (const pre of document.querySelectorAll("pre[data-json]")) {
    try { pre.textContent = JSON.stringify(JSON.parse(pre.textContent), null, 2); } catch (_) { /* not JSON */ }
  }

  // -- the live journal ----------------------------------------------------------------------------------
  const journal = document.getElementById("journal");
  if (!journal) return;
  const tbody = journal.querySelector("tbody");
  const pause = document.getElementById("journal-pause");
  const state = document.getElementById("live-state");
  let since = Number(journal.dataset.since || 0);
  const hideControl = journal.dataset.hideControl === "true";

  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  };

  function row(e) {
    const tr = el("tr", null, `status-${e.status ? Math.floor(e.status / 100) : 0} new`);
    tr.dataset.seq = e.seq;
    const request = el("code", `${e.method} ${e.path}${e.query ? "?" + e.query : ""}`);
    const cells = [e.seq, e.at, e.shop || "", e.api, e.route || "", request, e.status];
    cells.forEach((c, i) => {
      const td = el("td", c instanceof Node ? null : c, i === 6 ? "status" : null);
      if (c instanceof Node) td.appendChild(c);
      tr.appendChild(td);
    });
    const touched = el("td", null, "touched");
    if (e.fault) touched.appendChild(el("div", `fault: ${e.fault}`, "fault"));
    if (e.limit) touched.appendChild(el("div", `limit: ${e.limit}`, "limit"));
    if (e.latency_ms) touched.appendChild(el("div", `latency ${e.latency_ms} ms`));
    if (e.action) touched.appendChild(el("div", `transport: ${e.action}`));
    if (e.error) touched.appendChild(el("div", `error: ${e.error}`, "fault"));
    tr.appendChild(touched);
    const notes = el("td", null, "notes");
    for (const n of e.notes || []) notes.appendChild(el("div", n));
    if (e.nearest && e.nearest.length) {
      const box = el("div", "near misses:", "nearest");
      const list = el("ul");
      for (const m of e.nearest) {
        const li = el("li");
        li.appendChild(el("code", `${m.method} ${m.path}`));
        li.appendChild(document.createTextNode(` (${m.route}): ${m.why}`));
        list.appendChild(li);
      }
      box.appendChild(list);
      notes.appendChild(box);
    }
    tr.appendChild(notes);
    return tr;
  }

  // Each poll is itself a (journaled) control API call: poll every second while entries arrive, back off to
  // every 5 s while nothing happens, and not at all while the tab is hidden or paused.
  let delay = 1000;
  async function poll() {
    if (pause && pause.checked) {
      state.textContent = "paused";
      return false;
    }
    if (document.hidden) return false;
    let arrived = false;
    const params = new URLSearchParams({ since: String(since) });
    for (const name of ["shop", "api", "route", "status"]) {
      if (journal.dataset[name]) params.set(name, journal.dataset[name]);
    }
    try {
      const data = await call("GET", `/_rivosim/journal?${params}`);
      for (const e of data.entries) {
        since = Math.max(since, e.seq);
        if (e.api === "control" && e.route === "control.journal") continue;  // our own polls
        arrived = true;
        if (hideControl && e.api === "control") continue;
        tbody.insertBefore(row(e), tbody.firstChild);
      }
      while (tbody.rows.length > 500) tbody.deleteRow(tbody.rows.length - 1);
      state.textContent = "live";
      state.className = "badge live";
    } catch (e) {
      state.textContent = "disconnected";
      state.className = "badge failed";
    }
    return arrived;
  }
  async function loop() {
    const arrived = await poll();
    delay = arrived ? 1000 : Math.min(delay * 1.5, 5000);
    setTimeout(loop, delay);
  }
  loop();
})();
