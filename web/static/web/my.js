/* The grid team's workspace (phone first): the user's own grid(s) on a map, and an inbox of the
   incidents they may see, most urgent first, with the actions the server allows them, kept live
   over the same socket as the command centre (live.js). The API scopes everything by user. */
(function () {
  "use strict";
  var GL = window.GridLive, esc = GL.esc;
  var el = document.getElementById("map");
  var map = GL.pageMap(el, 19);

  var store = new GL.IncidentStore();
  var S = { me: null, loaded: false, selected: null, forms: new Map(), errors: new Map(), timelines: new Map(), todoOnly: false };
  var contexts = new Map();  // id -> {key, ctx} (key: the feature's updated_at when loaded)
  var loading = new Set(), queue = [];
  var markers = new Map();
  var G = window.gridops = { incidents: store.items, store: store, contexts: contexts, live: null };

  var gridLayer = L.geoJSON(null, {
    style: { color: "#2b7bb9", weight: 2, fillColor: "#9cc9ea", fillOpacity: 0.2 },
    onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.code + " " + (f.properties.name || "")), { sticky: true }); }
  }).addTo(map);
  var incLayer = L.markerClusterGroup({
    maxClusterRadius: 30, disableClusteringAtZoom: 18, showCoverageOnHover: false, animate: false,
    iconCreateFunction: GL.clusterIcon
  }).addTo(map);
  var selectedRing = L.circleMarker([0, 0], { radius: 18, color: "#e8590c", weight: 3, fill: false, interactive: false, className: "selected-ring" });
  L.control.scale({ imperial: false }).addTo(map);

  /* ---- markers ---- */
  function syncMarker(id, bulk) {
    var f = store.items.get(id), entry = markers.get(id), ll = f ? GL.latLngOf(f) : null;
    var key = ll ? [f.properties.state, f.properties.category, GL.isOverdue(f.properties), ll.lat, ll.lng].join("|") : "";
    if (entry && entry.key === key) { return; }
    if (entry) { incLayer.removeLayer(entry.marker); markers.delete(id); }
    if (!ll) { return; }
    var m = L.marker(ll, { icon: GL.incidentIcon(f), keyboard: false, overdue: GL.isOverdue(f.properties) });
    m.bindTooltip(esc(f.properties.reference + " " + f.properties.title), { direction: "top" });
    m.on("click", function () { select(id, true); });
    markers.set(id, { marker: m, key: key });
    if (bulk) { bulk.push(m); } else { incLayer.addLayer(m); }
  }
  function syncAll() {
    var bulk = [];
    store.items.forEach(function (_, id) { syncMarker(id, bulk); });
    markers.forEach(function (_, id) { if (!store.items.has(id)) { syncMarker(id); } });
    incLayer.addLayers(bulk);
  }

  /* ---- contexts (allowed actions), a few requests at a time ---- */
  function needContext(f) {
    var c = contexts.get(f.id);
    if ((c && c.key === f.properties.updated_at) || loading.has(f.id)) { return; }
    loading.add(f.id);
    queue.push(f.id);
    pump();
  }
  var running = 0;
  function pump() {
    while (running < 3 && queue.length) {
      var id = queue.shift(), f = store.items.get(id);
      if (!f) { loading.delete(id); continue; }
      running += 1;
      loadContext(id, f.properties.updated_at);
    }
  }
  function loadContext(id, key) {
    GL.getJSON("/api/incidents/" + id + "/context/").then(function (ctx) {
      contexts.set(id, { key: key, ctx: ctx });
    }).catch(function (err) {
      S.errors.set(id, err.message);
    }).then(function () {
      running -= 1;
      loading.delete(id);
      var f = store.items.get(id);
      if (f && f.properties.updated_at !== key) { needContext(f); }
      scheduleInbox();
      pump();
    });
  }

  /* ---- the inbox ---- */
  var inbox = document.getElementById("inbox");
  function actionsOf(f) {
    var c = contexts.get(f.id);
    if (!c) { return null; }
    /* what the server allows this user now; placing on the map is the command centre's tool */
    return c.ctx.allowed_actions.filter(function (a) { return a !== "relocate"; });
  }
  function byUrgency(a, b) {
    var la = GL.isOverdue(a.properties), lb = GL.isOverdue(b.properties);
    if (la !== lb) { return la ? -1 : 1; }
    var pa = a.properties, pb = b.properties;
    var ta = GL.times(pa), tb = GL.times(pb);
    var da = isNaN(ta.handle) ? Infinity : ta.handle, db = isNaN(tb.handle) ? Infinity : tb.handle;
    return (da === db ? 0 : da < db ? -1 : 1) || (GL.dueMs(pa) - GL.dueMs(pb) || 0) || tb.created - ta.created;
  }
  function cardKey(f) {
    var p = f.properties, c = contexts.get(f.id);
    return [p.updated_at, GL.isOverdue(p), GL.fmtDue(p), c ? c.key : "-", S.errors.get(f.id) || "", S.selected === f.id,
      S.timelines.has(f.id) ? S.timelines.get(f.id).length : "x"].join("|");
  }
  function cardHtml(f) {
    var p = f.properties, acts = actionsOf(f), late = GL.isOverdue(p), due = GL.fmtDue(p);
    var meta = [p.category_name, p.address, p.grid_code ? "网格 " + p.grid_code.slice(-3) : "", GL.LEVEL[p.level],
      p.assignee ? "承办 " + p.assignee.name : ""].filter(Boolean).join(" · ");
    var buttons = acts === null ? '<span class="muted">…</span>' : acts.length ? acts.map(function (a) {
      return '<button type="button" class="act' + (a === "escalate" || a === "rework" ? " minor" : "") + '" data-action="' +
        esc(a) + '">' + esc(GL.actionLabel(a)) + "</button>";
    }).join("") : '<span class="muted">无需操作 nothing to do</span>';
    var tl = S.timelines.get(f.id);
    return '<div class="card-top" data-select>' + GL.symbolSvg(p, 24) + "<b>" + esc(p.reference) + "</b> " + GL.stateBadge(p.state) +
      (late ? ' <span class="badge late">超期 overdue</span>' : "") + (due ? ' <span class="due' + (late ? " late" : "") + '">' +
      esc(due) + "</span>" : "") + '</div><div class="card-title" data-select>' + esc(p.title) + '</div><div class="card-meta">' +
      esc(meta) + '</div><div class="d-error" role="alert">' + esc(S.errors.get(f.id) || "") + '</div><div class="d-actions">' +
      buttons + '</div><button type="button" class="toggle" data-toggle>' + (tl ? "收起时间线 hide timeline ▴" : "时间线 timeline ▾") +
      "</button>" + (tl ? '<div class="card-timeline">' + GL.timelineHtml(tl) + "</div>" : "");
  }
  function visible(f) {
    if (!S.todoOnly) { return true; }
    var acts = actionsOf(f);
    return acts === null || acts.length > 0;
  }
  var INBOX_MAX = 200;
  function renderInbox() {
    var items = Array.from(store.items.values()).filter(visible).sort(byUrgency);
    document.getElementById("inbox-count").textContent = "(" + items.length + ")";
    items = items.slice(0, INBOX_MAX);  // the most urgent; a grid team never has more
    var busy = S.forms.size > 0, nodes = new Map();
    inbox.querySelectorAll("li.card").forEach(function (li) { nodes.set(Number(li.dataset.incidentId), li); });
    var empty = inbox.querySelector(".empty");
    if (items.length && empty) { empty.remove(); }
    if (!items.length && !empty) { inbox.insertAdjacentHTML("afterbegin", '<li class="muted empty">没有待办事件 nothing in your inbox</li>'); }
    if (!items.length && empty) { empty.textContent = "没有待办事件 nothing in your inbox"; }
    items.forEach(function (f) {
      needContext(f);
      var li = nodes.get(f.id);
      nodes.delete(f.id);
      if (!li) {
        li = document.createElement("li");
        li.dataset.incidentId = f.id;
        inbox.appendChild(li);
      }
      li.className = "card" + (GL.isOverdue(f.properties) ? " late" : "") + (S.selected === f.id ? " selected" : "");
      li.dataset.state = f.properties.state;
      var key = cardKey(f);
      if (li.dataset.key !== key && !S.forms.has(f.id)) { li.dataset.key = key; li.innerHTML = cardHtml(f); }
    });
    nodes.forEach(function (li, id) { if (!S.forms.has(id) || !store.items.has(id)) { S.forms.delete(id); li.remove(); } });
    if (!busy) { items.forEach(function (f) { inbox.appendChild(inbox.querySelector('li.card[data-incident-id="' + f.id + '"]')); }); }
  }
  var scheduleInbox = GL.debounce(renderInbox, 100);

  function openForm(li, id, a) {
    var old = li.querySelector(".action-form");
    if (old) { old.remove(); }
    S.forms.set(id, a);
    var c = contexts.get(id);
    li.querySelector(".d-actions").insertAdjacentHTML("beforeend", GL.actionFormHtml(a, c ? c.ctx.team : null));
    li.querySelector(".action-form textarea").focus();
  }
  function submit(li, form) {
    var id = Number(li.dataset.incidentId);
    form.querySelector("[type=submit]").disabled = true;
    GL.postJSON("/api/incidents/" + id + "/" + form.dataset.form + "/", GL.actionBody(form, store.items.get(id))).then(function (feature) {
      S.forms.delete(id);
      S.errors.delete(id);
      li.dataset.key = "";
      if (S.timelines.has(id)) { loadTimeline(id); }
      store.apply(feature, "action");
      scheduleInbox();
    }).catch(function (err) {
      S.errors.set(id, (err.status ? err.status + " · " : "") + err.message);
      form.querySelector("[type=submit]").disabled = false;
      li.querySelector(".d-error").textContent = S.errors.get(id);
    });
  }
  function loadTimeline(id) {
    GL.getJSON("/api/incidents/" + id + "/events/").then(function (events) { S.timelines.set(id, events); scheduleInbox(); })
      .catch(function (err) { S.errors.set(id, err.message); scheduleInbox(); });
  }
  inbox.addEventListener("click", function (e) {
    var li = e.target.closest("li.card");
    if (!li) { return; }
    var id = Number(li.dataset.incidentId), t = e.target;
    if (t.closest("[data-cancel]")) { S.forms.delete(id); li.dataset.key = ""; renderInbox(); return; }
    if (t.closest("[data-toggle]")) {
      if (S.timelines.has(id)) { S.timelines.delete(id); scheduleInbox(); } else { loadTimeline(id); }
      return;
    }
    var btn = t.closest("[data-action]");
    if (btn) { openForm(li, id, btn.dataset.action); return; }
    if (t.closest("[data-select]")) { select(id, false); }
  });
  inbox.addEventListener("submit", function (e) { e.preventDefault(); submit(e.target.closest("li.card"), e.target); });
  document.getElementById("todo-only").addEventListener("change", function (e) { S.todoOnly = e.target.checked; renderInbox(); });

  function select(id, fromMap) {
    S.selected = id;
    var f = store.items.get(id), ll = f ? GL.latLngOf(f) : null;
    if (ll) {
      selectedRing.setLatLng(ll).addTo(map);
      var entry = markers.get(id);
      if (!fromMap && entry) { incLayer.zoomToShowLayer(entry.marker); } else if (!fromMap) { map.panTo(ll); }
    }
    renderInbox();
    var li = inbox.querySelector('li.card[data-incident-id="' + id + '"]');
    if (li && fromMap) { li.scrollIntoView({ block: "nearest", behavior: "smooth" }); }
  }

  function showStatus(s) {
    var box = document.getElementById("live-status");
    box.className = "live-status " + s;
    box.querySelector("span").textContent = { open: "实时", connecting: "连接中", reconnecting: "重连中", offline: "离线" }[s] || s;
  }

  store.on(function (kind, f, old, via) {
    if (via === "initial") { return; }
    syncMarker(f.id);
    if (kind === "removed") { contexts.delete(f.id); if (S.selected === f.id) { selectedRing.remove(); } }
    scheduleInbox();
  });

  /* ---- start: who am I, my grids, my incidents, then the socket ---- */
  // The socket listens from the start: what changes while the page loads is applied too.
  G.live = GL.connectLive({ store: store, onStatus: showStatus });
  GL.getJSON("/api/me/").then(function (me) {
    S.me = G.me = me;
    var who = document.getElementById("who");
    who.textContent = (me.person ? me.person.name + " · " + (GL.ROLE[me.person.role] || me.person.role) : me.username) +
      (me.grids.length ? " · 网格 " + me.grids.map(function (c) { return c.slice(-3); }).join(", ") : "");
    who.title = me.grids.join(", ");
    return Promise.all(me.grids.map(function (code) {
      return GL.getJSON("/api/grids/" + encodeURIComponent(code) + "/").then(function (f) { gridLayer.addData(f); });
    }).concat([GL.loadOpen(store)]));
  }).then(function () {
    S.loaded = true;
    syncAll();
    renderInbox();
    var b = gridLayer.getBounds();
    if (!b.isValid() && markers.size) { b = incLayer.getBounds(); }
    if (b.isValid()) { map.fitBounds(b, { padding: [12, 12], maxZoom: 17, animate: false }); }
    el.dataset.loaded = "true";
  }).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });

  // Clocks run out while nothing changes: redraw every minute.
  setInterval(function () {
    if (!S.loaded) { return; }
    syncAll();
    renderInbox();
  }, 60000);
}());
