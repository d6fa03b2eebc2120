/* The grid team's workspace (phone first): the user's own grid(s) on a map, and an inbox of the
   incidents they may see, most urgent first, with the actions the server allows them, kept live
   over the same socket as the command centre. The API scopes everything by user.
   window.gridops is the page's handle for the curious and for tests. */
import {
  LEVEL, ROLE, debounce, dueMs, errorLine, esc, fmtDue, getJSON, isOverdue, stateBadge, timelineHtml, times
} from "web/helpers.js";
import { IncidentStore, loadUrgent } from "web/store.js";
import { mountBell } from "web/bell.js";
import { connectLive, showLiveStatus } from "web/socket.js";
import { pageMap, selectionRing } from "web/layers.js";
import { clusterIcon, incidentMarkers, latLngOf } from "web/markers.js";
import { symbolSvg } from "web/symbols.js";
import { actionButtonsHtml, openActionForm, performAction } from "web/actions.js";
import { loadPhotos, photoInputsHtml, photosHtml, wirePhotoInputs, wirePhotoViewer } from "web/photos.js";

const el = document.getElementById("map");
const map = pageMap(el, 19);

const store = new IncidentStore();
const S = { me: null, loaded: false, count: 0, more: null, selected: null, forms: new Map(), errors: new Map(), timelines: new Map(), photos: new Map(),
  todoOnly: false };
const contexts = new Map();  // id -> {key, ctx} (key: the feature's updated_at when loaded)
const loading = new Set(), queue = [];
const G = window.gridops = { incidents: store.items, store: store, contexts: contexts, live: null };

const gridLayer = L.geoJSON(null, {
  style: { color: "#2b7bb9", weight: 2, fillColor: "#9cc9ea", fillOpacity: 0.2 },
  onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.code + " " + (f.properties.name || "")), { sticky: true }); }
}).addTo(map);
const incLayer = L.markerClusterGroup({
  maxClusterRadius: 30, disableClusteringAtZoom: 18, showCoverageOnHover: false, animate: false,
  iconCreateFunction: clusterIcon
}).addTo(map);
const ring = selectionRing();
L.control.scale({ imperial: false }).addTo(map);

const markers = incidentMarkers(store, {
  layers: { incidents: incLayer },
  want: function () { return "incidents"; },
  tooltip: function (f) { return esc(f.properties.reference + " " + f.properties.title); },
  onClick: function (id) { select(id, true); }
});

/* ---- contexts (allowed actions), a few requests at a time ---- */
function needContext(f) {
  const c = contexts.get(f.id);
  if ((c && c.key === f.properties.updated_at) || loading.has(f.id)) { return; }
  loading.add(f.id);
  queue.push(f.id);
  pump();
}
let running = 0;
function pump() {
  while (running < 3 && queue.length) {
    const id = queue.shift(), f = store.items.get(id);
    if (!f) { loading.delete(id); continue; }
    running += 1;
    loadContext(id, f.properties.updated_at);
  }
}
function loadContext(id, key) {
  getJSON("/api/incidents/" + id + "/context/").then(function (ctx) {
    contexts.set(id, { key: key, ctx: ctx });
  }).catch(function (err) {
    S.errors.set(id, err.message);
  }).then(function () {
    running -= 1;
    loading.delete(id);
    const f = store.items.get(id);
    if (f && f.properties.updated_at !== key) { needContext(f); }
    scheduleInbox();
    pump();
  });
}

/* ---- the inbox ---- */
const inbox = document.getElementById("inbox");
function actionsOf(f) {
  const c = contexts.get(f.id);
  if (!c) { return null; }
  /* what the server allows this user now; placing on the map is the command centre's tool */
  return c.ctx.allowed_actions.filter(function (a) { return a !== "relocate"; });
}
/* The inbox's order, the server's (order=due, incidents.rules.next_due): the next running deadline first
   (so the overdue first, the longest overdue first), then the newest. */
function inboxOrder(a, b) {
  const da = dueMs(a.properties), db = dueMs(b.properties);
  return (da === db ? 0 : da < db ? -1 : 1) || times(b.properties).created - times(a.properties).created || b.id - a.id;
}
function cardKey(f) {
  const p = f.properties, c = contexts.get(f.id);
  return [p.updated_at, isOverdue(p), fmtDue(p), c ? c.key : "-", S.errors.get(f.id) || "", S.selected === f.id,
    S.timelines.has(f.id) ? S.timelines.get(f.id).length : "x",
    S.photos.has(f.id) ? (S.photos.get(f.id) ? S.photos.get(f.id).map(function (ph) { return ph.id + (ph.thumbnail_url ? "t" : ""); }).join(",") : "…") : "x"].join("|");
}
function cardHtml(f) {
  const p = f.properties, acts = actionsOf(f), late = isOverdue(p), due = fmtDue(p);
  const meta = [p.category_name, p.address, p.grid_code ? "网格 " + p.grid_code.slice(-3) : "", LEVEL[p.level],
    p.assignee ? "承办 " + p.assignee.name : ""].filter(Boolean).join(" · ");
  const buttons = acts === null ? '<span class="muted">…</span>' : acts.length
    ? actionButtonsHtml(acts, { minor: ["escalate", "rework", "return_to_centre", "request_extension"] }) : '<span class="muted">无需操作 nothing to do</span>';
  const tl = S.timelines.get(f.id);
  return '<div class="card-top" data-select>' + symbolSvg(p, 24) + "<b>" + esc(p.reference) + "</b> " + stateBadge(p.state) +
    (late ? ' <span class="badge late">超期 overdue</span>' : "") + (due ? ' <span class="due' + (late ? " late" : "") + '">' +
    esc(due) + "</span>" : "") + '</div><div class="card-title" data-select>' + esc(p.title) + '</div><div class="card-meta">' +
    esc(meta) + '</div><div class="d-error" role="alert">' + esc(S.errors.get(f.id) || "") + '</div><div class="d-actions">' +
    buttons + "</div>" + photoInputsHtml(f) + '<button type="button" class="toggle" data-photos-toggle>' +
    (S.photos.has(f.id) ? "收起照片 hide photos ▴" : "照片 photos ▾") + "</button>" +
    (S.photos.has(f.id) ? '<div class="card-photos">' + photosHtml(S.photos.get(f.id), f.id) + "</div>" : "") +
    '<button type="button" class="toggle" data-toggle>' + (tl ? "收起时间线 hide timeline ▴" : "时间线 timeline ▾") +
    "</button>" + (tl ? '<div class="card-timeline">' + timelineHtml(tl) + "</div>" : "");
}
function visible(f) {
  if (!S.todoOnly) { return true; }
  const acts = actionsOf(f);
  return acts === null || acts.length > 0;
}
function renderInbox() {
  const items = Array.from(store.items.values()).filter(visible).sort(inboxOrder);
  const more = S.more && !S.todoOnly;  // the server's count is of every open incident, actionable or not
  document.getElementById("inbox-count").textContent = "(" + items.length + (more ? " / " + S.count : "") + ")";
  const moreBtn = document.getElementById("inbox-more");
  moreBtn.hidden = !S.more;
  moreBtn.textContent = "更多 more (" + Math.max(S.count - store.items.size, 0) + ")";
  const busy = S.forms.size > 0, nodes = new Map();
  inbox.querySelectorAll("li.card").forEach(function (li) { nodes.set(Number(li.dataset.incidentId), li); });
  const empty = inbox.querySelector(".empty");
  if (items.length && empty) { empty.remove(); }
  if (!items.length && !empty) { inbox.insertAdjacentHTML("afterbegin", '<li class="muted empty">没有待办事件 nothing in your inbox</li>'); }
  if (!items.length && empty) { empty.textContent = "没有待办事件 nothing in your inbox"; }
  items.forEach(function (f) {
    needContext(f);
    let li = nodes.get(f.id);
    nodes.delete(f.id);
    if (!li) {
      li = document.createElement("li");
      li.dataset.incidentId = f.id;
      inbox.appendChild(li);
    }
    li.className = "card" + (isOverdue(f.properties) ? " late" : "") + (S.selected === f.id ? " selected" : "");
    li.dataset.state = f.properties.state;
    const key = cardKey(f);
    if (li.dataset.key !== key && !S.forms.has(f.id)) {
      /* the photo inputs are kept across a redraw: a photo being chosen (the camera app can take a while)
         is handed to the input it was chosen for, and a replaced input would drop it unheard */
      const inputs = li.querySelector(".photo-inputs");
      li.dataset.key = key;
      li.innerHTML = cardHtml(f);
      const fresh = li.querySelector(".photo-inputs");
      if (inputs && fresh) { fresh.replaceWith(inputs); }
    }
  });
  nodes.forEach(function (li, id) { if (!S.forms.has(id) || !store.items.has(id)) { S.forms.delete(id); li.remove(); } });
  if (!busy) { items.forEach(function (f) { inbox.appendChild(inbox.querySelector('li.card[data-incident-id="' + f.id + '"]')); }); }
}
const scheduleInbox = debounce(renderInbox, 100);
wirePhotoInputs(inbox, function (id) { if (S.photos.has(id)) { loadCardPhotos(id); } });
wirePhotoViewer(inbox);
/* A card's photos (before and after the work, at intake and verification), loaded when it is opened. */
function loadCardPhotos(id) {
  if (!S.photos.has(id)) { S.photos.set(id, null); scheduleInbox(); }
  loadPhotos(id).then(function (photos) { if (S.photos.has(id)) { S.photos.set(id, photos); scheduleInbox(); } })
    .catch(function (err) { S.photos.delete(id); S.errors.set(id, errorLine(err)); scheduleInbox(); });
}

function openForm(li, id, a) {
  S.forms.set(id, a);
  const c = contexts.get(id);
  openActionForm(li, a, c ? c.ctx : null);
}
function submit(li, form) {
  const id = Number(li.dataset.incidentId);
  const known = contexts.get(id);
  performAction(id, form, store.items.get(id), known && known.ctx.version).then(function (feature) {
    S.forms.delete(id);
    S.errors.delete(id);
    li.dataset.key = "";
    if (S.timelines.has(id)) { loadTimeline(id); }
    store.apply(feature, "action");
    scheduleInbox();
  }).catch(function (err) {
    S.errors.set(id, errorLine(err));
    li.querySelector(".d-error").textContent = S.errors.get(id);
    if (err.status === 412 && err.data && err.data.current) {  // changed meanwhile: show it as it is now
      S.forms.delete(id);
      contexts.delete(id);
      li.dataset.key = "";
      store.apply(err.data.current, "action");
      scheduleInbox();
    }
  });
}
function loadTimeline(id) {
  getJSON("/api/incidents/" + id + "/events/").then(function (events) { S.timelines.set(id, events); scheduleInbox(); })
    .catch(function (err) { S.errors.set(id, err.message); scheduleInbox(); });
}
inbox.addEventListener("click", function (e) {
  const li = e.target.closest("li.card");
  if (!li) { return; }
  const id = Number(li.dataset.incidentId), t = e.target;
  if (t.closest("[data-cancel]")) { S.forms.delete(id); li.dataset.key = ""; renderInbox(); return; }
  if (t.closest("[data-photos-toggle]")) {
    if (S.photos.has(id)) { S.photos.delete(id); scheduleInbox(); } else { loadCardPhotos(id); }
    return;
  }
  if (t.closest("[data-toggle]")) {
    if (S.timelines.has(id)) { S.timelines.delete(id); scheduleInbox(); } else { loadTimeline(id); }
    return;
  }
  const btn = t.closest("[data-action]");
  if (btn) { openForm(li, id, btn.dataset.action); return; }
  if (t.closest("[data-select]")) { select(id, false); }
});
inbox.addEventListener("submit", function (e) { e.preventDefault(); submit(e.target.closest("li.card"), e.target); });
document.getElementById("todo-only").addEventListener("change", function (e) { S.todoOnly = e.target.checked; renderInbox(); });
/* The next most urgent ones (the first load holds a page of them, most urgent first). */
function loaded(page) { S.count = page.count; S.more = page.more; markers.syncAll(); renderInbox(); }
document.getElementById("inbox-more").addEventListener("click", function (e) {
  if (!S.more) { return; }
  e.target.disabled = true;
  S.more().then(loaded).catch(function (err) { console.error(err); }).then(function () { e.target.disabled = false; });
});

function select(id, fromMap) {
  S.selected = id;
  const f = store.items.get(id), ll = f ? latLngOf(f) : null;
  if (ll) {
    ring.setLatLng(ll).addTo(map);
    const entry = markers.entries.get(id);
    if (!fromMap && entry) { incLayer.zoomToShowLayer(entry.marker); } else if (!fromMap) { map.panTo(ll); }
  }
  renderInbox();
  const li = inbox.querySelector('li.card[data-incident-id="' + id + '"]');
  if (li && fromMap) { li.scrollIntoView({ block: "nearest", behavior: "smooth" }); }
}

store.on(function (kind, f, old, via) {
  if (via === "initial") { return; }
  markers.sync(f.id);
  if (kind === "removed") { contexts.delete(f.id); if (S.selected === f.id) { ring.remove(); } }
  scheduleInbox();
});

/* ---- start: who am I, my grids, my incidents, then the socket ---- */
// The socket listens from the start: what changes while the page loads is applied too.
G.bell = mountBell(document.getElementById("bell"), { onOpen: function (id) { select(id, false); } });
G.live = connectLive({ store: store, onStatus: function (s) { showLiveStatus(s, true); },
  onInbox: function () { G.bell.refresh(); } });
getJSON("/api/me/").then(function (me) {
  S.me = G.me = me;
  const who = document.getElementById("who");
  who.textContent = (me.person ? me.person.name + " · " + (ROLE[me.person.role] || me.person.role) : me.username) +
    (me.grids.length ? " · 网格 " + me.grids.map(function (c) { return c.slice(-3); }).join(", ") : "");
  who.title = me.grids.join(", ");
  return Promise.all(me.grids.map(function (code) {
    return getJSON("/api/grids/" + encodeURIComponent(code) + "/").then(function (f) { gridLayer.addData(f); });
  }).concat([loadUrgent(store)]));
}).then(function (done) {
  S.loaded = true;
  loaded(done[done.length - 1]);
  let b = gridLayer.getBounds();
  if (!b.isValid() && markers.entries.size) { b = incLayer.getBounds(); }
  if (b.isValid()) { map.fitBounds(b, { padding: [12, 12], maxZoom: 17, animate: false }); }
  el.dataset.loaded = "true";
}).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });

// Clocks run out while nothing changes: redraw every minute.
setInterval(function () {
  if (!S.loaded) { return; }
  markers.syncAll();
  renderInbox();
}, 60000);
