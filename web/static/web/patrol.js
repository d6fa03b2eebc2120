/* The grid worker's patrol on the phone (巡查): start and end a patrol, follow the position, thin it to a
   point every 10 s, queue the points in IndexedDB (kept while offline or when the page is closed) and
   send them in batches once a minute and whenever the network returns; and report a problem found on
   the way, with photos, marked fixed on the spot (自行处置) with an after photo when it was.
   The server decides what a point is worth (patrols.services flags the doubtful ones) and takes a
   re-sent batch once. */
import { csrfToken, errorLine, esc, getJSON, postJSON } from "web/helpers.js";
import { queueRequest } from "web/offline.js";
import { tx } from "web/phonedb.js";

const KEEP_EVERY_MS = 10000;   // the thinning: one point per 10 s (PATROL: the bench's rate)
const SEND_EVERY_MS = 60000;   // a batch a minute
const BATCH_MAX = 500;         // the API takes up to 1,000
const box = document.getElementById("patrol");
const state = { patrol: JSON.parse(localStorage.getItem("gridops.patrol") || "null"), watch: null, last: 0,
                position: null, sent: 0, queued: 0, error: "" };
window.gridopsPatrol = state;

/* ---- the queue (IndexedDB: survives the page, and the network dropping) ---- */
function db_tx(mode, work) { return tx("points", mode, work); }
function enqueue(point) { return db_tx("readwrite", function (s) { s.add(point); }).then(count); }
function pending() { return db_tx("readonly", function (s) { return s.getAll(); }); }
function drop(seqs) { return db_tx("readwrite", function (s) { seqs.forEach(function (q) { s.delete(q); }); }); }
function count() { return db_tx("readonly", function (s) { return s.count(); }).then(function (n) { state.queued = n; draw(); }); }

/* ---- sending ---- */
let sending = null;
let again = false;  // asked for while a send was under way (the network came back mid-try): go once more
export function flush() {
  if (sending) { again = true; return sending; }
  again = false;
  sending = pending().then(function (rows) {
    const byPatrol = {};
    rows.forEach(function (r) { (byPatrol[r.patrol] = byPatrol[r.patrol] || []).push(r); });
    return Object.keys(byPatrol).reduce(function (chain, id) {
      return chain.then(function () { return sendAll(id, byPatrol[id]); });
    }, Promise.resolve());
  }).then(function () { state.error = ""; }, function (err) {
    state.error = navigator.onLine ? errorLine(err) : "离线, 稍后发送 offline: sent when back";
  }).then(function () { sending = null; return count(); }).then(function () { return again ? flush() : null; });
  return sending;
}
function sendAll(id, rows) {
  if (!rows.length) { return Promise.resolve(); }
  const batch = rows.slice(0, BATCH_MAX);
  const points = batch.map(function (r) { return { lon: r.lon, lat: r.lat, t: r.t, accuracy: r.accuracy }; });
  return postJSON("/api/patrols/" + id + "/points/", { points: points }).then(function (answer) {
    state.sent += answer.stored;
    return drop(batch.map(function (r) { return r.seq; }));
  }, function (err) {
    if (err.status === 404 || err.status === 400) { return drop(batch.map(function (r) { return r.seq; })); }  // never taken: do not retry forever
    throw err;
  }).then(function () { return sendAll(id, rows.slice(BATCH_MAX)); });
}

/* ---- following the position ---- */
function onPosition(pos) {
  state.position = pos.coords;
  const now = Date.now();  // the page's clock (the position is at most maximumAge old)
  if (!state.patrol || now - state.last < KEEP_EVERY_MS) { draw(); return; }
  state.last = now;
  enqueue({ patrol: state.patrol.id, lon: pos.coords.longitude, lat: pos.coords.latitude,
            t: new Date(now).toISOString(), accuracy: pos.coords.accuracy });
}
function follow() {
  if (state.watch !== null || !navigator.geolocation) { return; }
  state.watch = navigator.geolocation.watchPosition(onPosition, function (err) {
    state.error = "定位 location: " + err.message;
    draw();
  }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
}

function start() {
  const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^\w-]/g, "");
  return postJSON("/api/patrols/", { key: key }).then(function (patrol) {
    state.patrol = { id: patrol.id, started_at: patrol.started_at };
    localStorage.setItem("gridops.patrol", JSON.stringify(state.patrol));
    state.last = 0;
    follow();
    draw();
  }).catch(function (err) { state.error = errorLine(err); draw(); });
}
function end() {
  const id = state.patrol.id;
  return flush().then(function () { return postJSON("/api/patrols/" + id + "/end/"); }).then(function () {
    state.patrol = null;
    localStorage.removeItem("gridops.patrol");
    draw();
  }).catch(function (err) { state.error = errorLine(err); draw(); });
}

/* ---- reporting a problem found on the way ---- */
function report(form) {
  const status = form.querySelector(".status");
  const c = state.position;
  if (!c) { status.textContent = "还没有位置 no position yet"; return Promise.resolve(); }
  const body = new FormData(form);
  body.set("source", "patrol");
  body.set("lon", String(c.longitude));
  body.set("lat", String(c.latitude));
  body.set("external_id", form.dataset.key);
  body.set("self_handled", form.elements.self_handled.checked ? "true" : "false");
  if (!form.elements.self_handled.checked) { body.delete("after_photos"); }
  status.textContent = "发送中 sending…";
  return fetch("/api/incidents/", { method: "POST", body: body, credentials: "same-origin",
                                    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" } })
    .catch(function (networkError) {  // offline: kept with its photos, sent when back (its external_id: once)
      return queueRequest({ method: "POST", url: "/api/incidents/", headers: { Accept: "application/json" },
                            form: Array.from(body.entries()) }).then(function () {
        status.textContent = "离线, 已排队, 联网后上报 offline: queued, reported when the network returns";
        form.dataset.queued = form.dataset.key;
        form.reset();
        form.dataset.key = newKey();
        return null;
      });
    })
    .then(function (r) {
      if (r === null) { return; }
      return r.json().catch(function () { return null; }).then(function (data) {
        if (!r.ok) {
          const err = new Error(data ? Object.keys(data).map(function (k) { return k + ": " + [].concat(data[k]).join(" "); }).join("; ") : r.statusText);
          err.status = r.status;
          throw err;
        }
        const p = data.properties || {};
        status.textContent = "已上报 reported " + (p.reference || ("#" + data.id)) + (p.state === "closed" ? " · 已自行处置 closed, fixed on the spot" : "");
        form.dataset.done = String(data.id);
        form.reset();
        form.dataset.key = newKey();
      });
    }).catch(function (err) { status.textContent = errorLine(err); });
}
function newKey() { return "patrol-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())); }

/* ---- drawing ---- */
function draw() {
  const run = state.patrol;
  box.querySelector(".patrol-state").textContent = run
    ? "巡查中 on patrol since " + new Date(run.started_at).toLocaleTimeString() + " · 已发送 sent " + state.sent + " · 待发送 queued " + state.queued
    : "未在巡查 not on patrol" + (state.queued ? " · 待发送 queued " + state.queued : "");
  box.querySelector("[data-patrol-action=start]").hidden = !!run;
  box.querySelector("[data-patrol-action=end]").hidden = !run;
  box.querySelector(".patrol-error").textContent = state.error;
  box.dataset.patrol = run ? "on" : "off";
}

function categories() {
  return getJSON("/api/categories/").then(function (rows) {
    const select = box.querySelector("select[name=category]");
    select.innerHTML = (rows.results || rows).map(function (c) {
      return '<option value="' + esc(c.code) + '">' + esc(c.name_zh || c.name || c.code) + "</option>";
    }).join("");
  });
}

box.addEventListener("click", function (e) {
  const button = e.target.closest("[data-patrol-action]");
  if (!button) { return; }
  if (button.dataset.patrolAction === "start") { start(); } else { end(); }
});
const form = box.querySelector("form.patrol-report");
form.dataset.key = newKey();
form.addEventListener("submit", function (e) { e.preventDefault(); report(form); });
window.addEventListener("online", flush);
setInterval(flush, SEND_EVERY_MS);
follow();  // the report needs a position even off patrol
categories();
count().then(flush);
draw();
