/* The phone works where the signal drops (issue 14): a service worker (Workbox, web/templates/web/sw.js)
   keeps the page, its scripts and the answers it last read (inbox, incidents, the grid); every change
   the page sends carries an Idempotency-Key, and one that cannot reach the server is kept here, in
   IndexedDB, and sent again, in order, when the network returns: the server does each once. A change
   the server then refuses (the incident was reassigned or closed meanwhile: 409, 412) is not retried:
   it is shown, with the server's reason, until the worker dismisses it. */
import { csrfToken, esc, setOfflineQueue } from "web/helpers.js";
import { tx, wipe } from "web/phonedb.js";

const box = document.getElementById("offline");
const state = { queued: 0, refused: JSON.parse(sessionStorage.getItem("gridops.refused") || "[]"), replaying: null, again: false };
window.gridopsOffline = state;

function store(mode, work) { return tx("requests", mode, work); }
function count() {
  return store("readonly", function (s) { return s.count(); }).then(function (n) { state.queued = n; draw(); });
}

/* Keep a change to send later: a JSON body, or a form's entries (``form``: [name, value or File] pairs,
   photos included: IndexedDB keeps files). */
export function queueRequest(req) {
  return store("readwrite", function (s) {
    s.add({ method: req.method, url: req.url, headers: req.headers || {}, body: req.body, form: req.form,
            at: new Date().toISOString() });
  }).then(count);
}
function bodyOf(row) {
  if (!row.form) { return row.body; }
  const form = new FormData();
  row.form.forEach(function (pair) { form.append(pair[0], pair[1]); });
  return form;
}

function refuse(row, status, text) {
  let detail = text;
  try { const data = JSON.parse(text); detail = data.detail || JSON.stringify(data); } catch (e) { /* not JSON */ }
  state.refused.push({ url: row.url, status: status, detail: String(detail).slice(0, 300), at: row.at });
  sessionStorage.setItem("gridops.refused", JSON.stringify(state.refused));
}

/* Send what waits, oldest first; stop at the first network failure (still offline). */
export function replay() {
  if (state.replaying) { state.again = true; return state.replaying; }  // the network came back mid-try: go once more
  state.again = false;
  state.replaying = store("readonly", function (s) { return s.getAll(); }).then(function (rows) {
    return rows.reduce(function (chain, row) {
      return chain.then(function (go) {
        if (!go) { return false; }
        const headers = Object.assign({}, row.headers, { "X-CSRFToken": csrfToken() });  // the session's token now
        return fetch(row.url, { method: row.method, headers: headers, body: bodyOf(row), credentials: "same-origin" })
          .then(function (r) {
            return r.text().then(function (text) {
              if (r.status >= 500) { return false; }  // the server is not well: keep it, try later
              if (!r.ok) { refuse(row, r.status, text); }
              return store("readwrite", function (s) { s.delete(row.seq); }).then(function () { return true; });
            });
          }, function () { return false; });
      });
    }, Promise.resolve(true));
  }).then(function () {
    state.replaying = null;
    document.dispatchEvent(new CustomEvent("gridops:replayed"));
    return count();
  }).then(function () { return state.again ? replay() : null; });
  return state.replaying;
}

function draw() {
  if (!box) { return; }
  const parts = [];
  if (!navigator.onLine) { parts.push("离线 offline"); }
  if (state.queued) { parts.push("待发送 " + state.queued + " 项 waiting to be sent"); }
  box.querySelector(".offline-state").textContent = parts.join(" · ");
  box.querySelector(".offline-refused").innerHTML = state.refused.map(function (r, n) {
    return '<li data-refused="' + n + '">未能执行 not applied (' + esc(r.status) + "): " + esc(r.detail) +
      ' <button type="button" data-dismiss="' + n + '">知道了 ok</button></li>';
  }).join("");
  box.hidden = !parts.length && !state.refused.length;
}

if (box) {
  box.addEventListener("click", function (e) {
    const b = e.target.closest("[data-dismiss]");
    if (!b) { return; }
    state.refused.splice(Number(b.dataset.dismiss), 1);
    sessionStorage.setItem("gridops.refused", JSON.stringify(state.refused));
    draw();
  });
}
setOfflineQueue(queueRequest);
window.addEventListener("online", function () { draw(); replay(); });
window.addEventListener("offline", draw);
/* logging out: nothing of this person stays on the phone (the caches, the queue, the track) */
const logout = document.querySelector("form[action$='/logout/']");
if (logout) {
  logout.addEventListener("submit", function () {
    sessionStorage.removeItem("gridops.refused");
    localStorage.removeItem("gridops.patrol");
    if (window.caches) { caches.keys().then(function (keys) { keys.forEach(function (k) { caches.delete(k); }); }); }
    wipe();
  });
}
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(box.dataset.worker, { scope: box.dataset.scope }).then(function () {
    return navigator.serviceWorker.ready;
  }).then(function () { document.body.dataset.offlineReady = "true"; }).catch(function (err) {
    console.warn("service worker:", err && err.message);
  });
}
count().then(function () { if (navigator.onLine) { replay(); } });
