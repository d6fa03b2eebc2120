/* The command centre: the whole town live on one map, with the feed, counts, filters, the triage
   queue and the selected incident's timeline, team, cameras and actions. Data come from the
   platform's own API and socket (live.js); nothing is requested outside the server. */
(function () {
  "use strict";
  var GL = window.GridLive, esc = GL.esc;
  var el = document.getElementById("map");
  var map = GL.pageMap(el, 19);

  var store = new GL.IncidentStore();
  var S = { me: null, roles: [], selected: null, feature: null, events: null, ctx: null, error: "", form: null,
            placing: null, loaded: false, filters: {} };
  var markers = new Map();  // id -> {marker, layer: "incidents" | "triage"}
  var cameraSectors = new Map();
  var G = window.gridops = { incidents: store.items, store: store, markers: markers, select: select, map: map, live: null };

  /* ---- layers ---- */
  var layers = {
    town: L.geoJSON(null, { style: { color: "#17324d", weight: 3, fill: false }, interactive: false }),
    villages: L.geoJSON(null, {
      style: { color: "#5a3e9b", weight: 2, fillOpacity: 0.03 },
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.name), { sticky: true }); }
    }),
    comprehensive: L.geoJSON(null, {
      style: { color: "#2b7bb9", weight: 1, fillColor: "#9cc9ea", fillOpacity: 0.22 }, onEachFeature: gridClick
    }),
    dedicated: L.geoJSON(null, {
      style: { color: "#d9480f", weight: 2, dashArray: "4 3", fillColor: "#ffa94d", fillOpacity: 0.3 },
      onEachFeature: gridClick
    }),
    cameras: L.layerGroup(),
    incidents: L.markerClusterGroup({
      maxClusterRadius: 40, disableClusteringAtZoom: 17, showCoverageOnHover: false, chunkedLoading: true, animate: false,
      iconCreateFunction: GL.clusterIcon
    }),
    triage: L.layerGroup()
  };

  function gridClick(feature, layer) {
    var p = feature.properties;
    layer.bindTooltip(esc(p.code.slice(-3) + " " + (p.name || "")), { sticky: true, className: "grid-tip" });
    layer.on("click", function (e) {
      if (S.placing) { return; }
      var div = document.createElement("div");
      div.className = "grid-popup";
      div.innerHTML = "<h4>" + esc(p.name) + "</h4><div>编码 code: <code class='grid-code'>" + esc(p.code) +
        "</code></div><div>村居 village: " + esc(p.village_name) + "</div>" +
        (p.purpose ? "<div>用途 purpose: " + esc(p.purpose) + "</div>" : "") + "<div class='team'>…</div>";
      L.popup({ maxWidth: 380 }).setLatLng(e.latlng).setContent(div).openOn(map);
      GL.getJSON("/api/grids/" + encodeURIComponent(p.code) + "/team/").then(function (team) {
        div.querySelector(".team").innerHTML = GL.teamHtml(team, null);
      }).catch(function () { div.querySelector(".team").textContent = ""; });
    });
  }

  function addCameras(fc) {
    fc.features.forEach(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var colour = p.status === "online" ? "#2f9e44" : "#868e96";
      if (p.sector) {
        var sector = L.geoJSON(p.sector, {
          style: { color: colour, weight: 1, fillOpacity: 0.18, className: "camera-sector" }, interactive: false
        }).addTo(layers.cameras);
        sector.baseColour = colour;
        cameraSectors.set(p.code, sector);
      }
      L.circleMarker([c[1], c[0]], { radius: 5, color: "#fff", weight: 1, fillColor: colour, fillOpacity: 1 })
        .bindTooltip(esc(p.code + " " + p.name + " (" + p.status + ")")).addTo(layers.cameras);
    });
  }

  function highlightCameras(codes) {
    cameraSectors.forEach(function (sector, code) {
      var on = codes.indexOf(code) >= 0;
      sector.setStyle({ color: on ? "#e8590c" : sector.baseColour, weight: on ? 3 : 1, fillOpacity: on ? 0.35 : 0.18 });
    });
  }

  /* ---- incident markers ---- */
  function tooltipOf(id) {
    return function () {
      var f = store.items.get(id);
      if (!f) { return ""; }
      var p = f.properties;
      return "<b>" + esc(p.reference) + "</b> " + esc(p.category_name) + " · " + esc(GL.stateLabel(p.state)) +
        (GL.isOverdue(p) ? " · <b class='late'>超期 overdue</b>" : "") + "<br>" + esc(p.title);
    };
  }
  function wantedLayer(f) {
    if (!f || !f.geometry) { return null; }
    if (f.properties.triage) { return "triage"; }
    return matches(f.properties) ? "incidents" : null;
  }
  function newMarker(f) {
    var m = L.marker(GL.latLngOf(f), { icon: GL.incidentIcon(f), keyboard: false, overdue: GL.isOverdue(f.properties) });
    m.bindTooltip(tooltipOf(f.id), { direction: "top" });
    m.on("click", function (e) { if (S.placing) { placeAt(e.latlng); } else { select(f.id); } });
    return m;
  }
  function iconKey(f) { var p = f.properties; return [p.state, p.category, p.triage, GL.isOverdue(p)].join("|"); }
  /* Put the incident's marker where it belongs now (or nowhere); `bulk` collects cluster changes. */
  function syncMarker(id, bulk) {
    var f = store.items.get(id), entry = markers.get(id), want = wantedLayer(f);
    if (entry && want && entry.layer === want && entry.marker.getLatLng().equals(GL.latLngOf(f))) {
      var key = iconKey(f);
      if (entry.key !== key) {
        entry.key = key;
        entry.marker.options.overdue = GL.isOverdue(f.properties);
        entry.marker.setIcon(GL.incidentIcon(f));
        if (want === "incidents" && !bulk) { layers.incidents.refreshClusters(entry.marker); }
      }
      return;
    }
    if (entry) {
      if (bulk && entry.layer === "incidents") { bulk.remove.push(entry.marker); } else { layers[entry.layer].removeLayer(entry.marker); }
      markers.delete(id);
    }
    if (!want) { return; }
    var m = newMarker(f);
    markers.set(id, { marker: m, layer: want, key: iconKey(f) });
    if (bulk && want === "incidents") { bulk.add.push(m); } else { layers[want].addLayer(m); }
  }
  function syncAll(only) {
    var bulk = { add: [], remove: [] };
    var ids = only || new Set(store.items.keys());
    if (!only) { markers.forEach(function (_, id) { ids.add(id); }); }
    ids.forEach(function (id) { syncMarker(id, bulk); });
    if (bulk.remove.length > 1000) {  // e.g. a filter: rebuilding the clusters is faster than removing
      var keep = [];
      markers.forEach(function (entry) { if (entry.layer === "incidents") { keep.push(entry.marker); } });
      layers.incidents.clearLayers();
      layers.incidents.addLayers(keep);
    } else {
      layers.incidents.removeLayers(bulk.remove);
      layers.incidents.addLayers(bulk.add);
    }
    layers.incidents.refreshClusters();
  }

  /* ---- filters ---- */
  var filterForm = document.getElementById("filters");
  function readFilters() {
    var fd = new FormData(filterForm);
    S.filters = { category: fd.get("category"), state: fd.get("state"), source: fd.get("source"),
                  village: fd.get("village"), period: fd.get("period"), overdue: fd.get("overdue") === "on" };
  }
  function matches(p) {
    var f = S.filters;
    if (f.category && p.category !== f.category) { return false; }
    if (f.state && p.state !== f.state) { return false; }
    if (f.source && p.source !== f.source) { return false; }
    if (f.village && p.village_code !== f.village) { return false; }
    if (f.overdue && !GL.isOverdue(p)) { return false; }
    if (f.period) {
      var start = new Date();
      if (f.period === "today") { start.setHours(0, 0, 0, 0); } else { start.setDate(start.getDate() - Number(f.period)); }
      if (GL.times(p).created < start.getTime()) { return false; }
    }
    return true;
  }
  function fillSelect(name, options) {
    var sel = filterForm.elements[name];
    options.forEach(function (o) { sel.insertAdjacentHTML("beforeend", '<option value="' + esc(o[0]) + '">' + esc(o[1]) + "</option>"); });
  }
  filterForm.addEventListener("change", function () { readFilters(); syncAll(); renderLists(); });

  /* ---- side panel: tabs, lists, feed, counts ---- */
  document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b === btn)); });
      document.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.dataset.tabPanel !== btn.dataset.tab; });
    });
  });

  function rowHtml(f, extra) {
    var p = f.properties, due = GL.fmtDue(p), late = GL.isOverdue(p);
    return '<li class="row' + (late ? " late" : "") + (S.selected === f.id ? " selected" : "") + '" data-incident-id="' +
      esc(f.id) + '" tabindex="0">' + GL.symbolSvg(p, 22) + '<div class="row-main"><div class="row-top"><b>' +
      esc(p.reference) + "</b> " + GL.stateBadge(p.state) + (due ? ' <span class="due' + (late ? " late" : "") + '">' +
      esc(due) + "</span>" : "") + '</div><div class="row-title">' + esc(p.title) + '</div><div class="row-meta">' +
      esc(extra) + "</div></div></li>";
  }
  /* Most urgent first: overdue, then the nearest deadline, then the newest (keys computed once). */
  function byUrgency(features) {
    var now = Date.now();
    return features.map(function (f) {
      var p = f.properties;
      return { f: f, late: GL.isOverdue(p, now) ? 0 : 1, due: GL.dueMs(p), created: GL.times(p).created };
    }).sort(function (a, b) {
      return (a.late - b.late) || (a.due === b.due ? 0 : a.due < b.due ? -1 : 1) || b.created - a.created;
    }).map(function (k) { return k.f; });
  }
  var LIST_MAX = 300;
  function renderLists() {
    var all = Array.from(store.items.values());
    var triage = all.filter(function (f) { return f.properties.triage; }).sort(function (a, b) {
      return GL.times(b.properties).created - GL.times(a.properties).created;
    });
    var listed = byUrgency(all.filter(function (f) { return !f.properties.triage && matches(f.properties); }));
    document.querySelector('[data-count="triage"]').textContent = triage.length;
    document.querySelector('[data-count="list"]').textContent = listed.length;
    document.getElementById("triage").innerHTML = triage.length ? '<ul class="rows">' + triage.map(function (f) {
      var p = f.properties;
      return rowHtml(f, (GL.TRIAGE[p.triage] || p.triage) + (p.distance_m ? " · " + Math.round(p.distance_m) + " m" : "") +
        (p.address ? " · " + p.address : "") + " · " + (GL.SOURCE[p.source] || p.source));
    }).join("") + "</ul>" : '<p class="muted empty">无待分拣事件 the triage queue is empty</p>';
    document.getElementById("list").innerHTML = listed.length ? '<ul class="rows">' + listed.slice(0, LIST_MAX).map(function (f) {
      var p = f.properties;
      return rowHtml(f, [p.category_name, p.village_name, p.grid_code, p.assignee ? p.assignee.name : ""].filter(Boolean).join(" · "));
    }).join("") + "</ul>" + (listed.length > LIST_MAX ? '<p class="muted">+' + (listed.length - LIST_MAX) + " …</p>" : "")
      : '<p class="muted empty">无匹配事件 no incident matches</p>';
  }
  var scheduleLists = GL.debounce(renderLists, 150);

  var FEED_MAX = 200;
  function addFeed(f, ev, via) {
    var feed = document.getElementById("feed"), p = f.properties;
    var empty = feed.querySelector(".empty");
    if (empty) { empty.remove(); }
    var action = ev ? GL.actionLabel(ev.action) : (via === "catchup" ? "补录 caught up" : "更新 changed");
    var move = ev && ev.to_state && ev.from_state !== ev.to_state ? GL.stateLabel(ev.from_state || "") + " → " + GL.stateLabel(ev.to_state)
      : GL.stateLabel(p.state);
    var li = document.createElement("div");
    li.className = "feed-row" + (via === "catchup" ? " catchup" : "") + (GL.isOverdue(p) ? " late" : "");
    li.dataset.incidentId = f.id;
    li.tabIndex = 0;
    li.innerHTML = "<time>" + esc(GL.fmtTime(ev ? ev.created_at : p.updated_at, false)) + "</time>" + GL.symbolSvg(p, 20) +
      '<div class="row-main"><div><b>' + esc(p.reference) + "</b> " + esc(action) + ' <span class="muted">' + esc(move) +
      "</span></div><div class='row-title'>" + esc(p.title) + '</div><div class="row-meta">' +
      esc([p.village_name, ev ? ev.actor_label : "", ev && ev.note ? "“" + ev.note + "”" : ""].filter(Boolean).join(" · ")) +
      "</div></div>";
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > FEED_MAX) { feed.removeChild(feed.lastChild); }
  }

  function openRow(e) {
    var row = e.target.closest("[data-incident-id]");
    if (row && (e.type === "click" || e.key === "Enter")) { select(Number(row.dataset.incidentId), { pan: true }); }
  }
  ["feed", "triage", "list"].forEach(function (id) {
    var box = document.getElementById(id);
    box.addEventListener("click", openRow);
    box.addEventListener("keydown", openRow);
  });

  function refreshStats() {
    GL.getJSON("/api/incidents/stats/").then(function (s) {
      Object.keys(s).forEach(function (k) {
        var cell = document.querySelector('[data-stat="' + k + '"]');
        if (!cell) { return; }
        cell.textContent = k === "closure_rate_month" ? (s[k] == null ? "–" : Math.round(s[k] * 1000) / 10 + "%") : s[k];
      });
    }).catch(function (err) { console.warn("stats:", err.message); });
  }
  var scheduleStats = GL.debounce(refreshStats, 1200);

  function showStatus(s) {
    var box = document.getElementById("live-status");
    box.className = "live-status " + s;
    box.querySelector("span").textContent = { open: "实时 live", connecting: "连接中 connecting", reconnecting: "重连中 reconnecting",
      offline: "离线 offline" }[s] || s;
  }

  /* ---- the selected incident ---- */
  var detail = document.getElementById("detail"), detailSeq = 0;
  function select(id, opts) {
    S.selected = id;
    S.feature = store.items.get(id) || (S.feature && S.feature.id === id ? S.feature : null);
    S.events = S.ctx = null;
    S.error = "";
    S.form = null;
    stopPlacing();
    renderDetail();
    loadDetail();
    scheduleLists();
    var entry = markers.get(id);
    if (entry && opts && opts.pan) {
      if (entry.layer === "incidents" && map.hasLayer(layers.incidents)) {
        layers.incidents.zoomToShowLayer(entry.marker);
      } else {
        map.panTo(entry.marker.getLatLng());
      }
    }
    if (!S.feature) {
      GL.getJSON("/api/incidents/" + id + "/").then(function (f) { if (S.selected === id) { S.feature = f; renderDetail(); } })
        .catch(function (err) { S.error = err.message; });
    }
  }
  function loadDetail() {
    var id = S.selected, seq = ++detailSeq;
    Promise.all([GL.getJSON("/api/incidents/" + id + "/events/"), GL.getJSON("/api/incidents/" + id + "/context/")])
      .then(function (r) {
        if (seq !== detailSeq) { return; }
        S.events = r[0];
        S.ctx = r[1];
        highlightCameras(S.ctx.cameras.map(function (c) { return c.code; }));
        renderDetail();
      })
      .catch(function (err) { if (seq === detailSeq) { S.error = err.message; renderDetail(); } });
  }
  var reloadDetail = GL.debounce(function () { if (S.selected != null) { loadDetail(); } }, 300);
  var selectedRing = L.circleMarker([0, 0], { radius: 18, color: "#e8590c", weight: 3, fill: false, interactive: false, className: "selected-ring" });

  function info(label, value) { return value ? "<dt>" + esc(label) + "</dt><dd>" + esc(value) + "</dd>" : ""; }
  function renderDetail() {
    detail.hidden = S.selected == null;
    if (S.selected == null) { selectedRing.remove(); return; }
    var f = S.feature;
    if (!f) { detail.innerHTML = '<p class="muted">…</p>'; return; }
    var p = f.properties, ll = GL.latLngOf(f);
    if (ll) { selectedRing.setLatLng(ll).addTo(map); } else { selectedRing.remove(); }
    var formOpen = detail.querySelector(".action-form");
    if (formOpen && S.form) { renderInfoOnly(p); return; }
    detail.dataset.incidentId = f.id;
    detail.innerHTML = '<header class="d-head">' + GL.symbolSvg(p, 26) + "<b>" + esc(p.reference) + "</b> " +
      GL.stateBadge(p.state) + (GL.isOverdue(p) ? ' <span class="badge late">超期 overdue</span>' : "") +
      '<button type="button" class="close" data-close title="关闭 close">×</button></header>' +
      '<h3 class="d-title">' + esc(p.title) + '</h3><dl class="d-info">' + infoHtml(p) + "</dl>" +
      '<div class="d-error" role="alert">' + esc(S.error) + "</div>" +
      '<div class="d-actions">' + actionsHtml(p) + "</div>" +
      "<h4>网格团队 team</h4><div class='d-team'>" + (S.ctx ? GL.teamHtml(S.ctx.team, p.assignee) : "…") + "</div>" +
      "<h4>覆盖摄像头 cameras</h4><div class='d-cameras'>" + camerasHtml() + "</div>" +
      "<h4>时间线 timeline</h4><div class='d-timeline'>" + (S.events ? GL.timelineHtml(S.events) : "…") + "</div>";
  }
  function infoHtml(p) {
    return info("类别 category", p.category_name) + info("来源 source", GL.SOURCE[p.source] || p.source) +
      info("地址 address", p.address) + info("村居 village", p.village_name) +
      info("网格 grid", (p.grid_code || "") + (p.handling_grid_code && p.handling_grid_code !== p.grid_code ? " → " + p.handling_grid_code : "")) +
      info("层级 level", GL.LEVEL[p.level]) + info("承办 assignee", p.assignee ? p.assignee.name + " " + (GL.ROLE[p.assignee.role] || p.assignee.role) : "") +
      info("时限 due", GL.fmtDue(p) ? GL.fmtTime(p.state === "dispatched" ? p.accept_due_at : p.handle_due_at) + " · " + GL.fmtDue(p) : "") +
      info("分拣 triage", p.triage ? (GL.TRIAGE[p.triage] || p.triage) + (p.distance_m ? " · " + Math.round(p.distance_m) + " m" : "") : "") +
      info("边界 edge", p.near_edge ? "靠近网格边界 near a grid edge" : "") +
      info("疑似重复 duplicate of", p.possible_duplicate_of ? "INC-" + String(p.possible_duplicate_of).padStart(7, "0") : "") +
      info("上报 reported", GL.fmtTime(p.created_at));
  }
  function renderInfoOnly(p) {
    var dl = detail.querySelector(".d-info");
    if (dl) { dl.innerHTML = infoHtml(p); }
    var err = detail.querySelector(".d-error");
    if (err) { err.textContent = S.error; }
  }
  function camerasHtml() {
    if (!S.ctx) { return "…"; }
    if (!S.ctx.cameras.length) { return '<p class="muted">无 none</p>'; }
    return '<ul class="cams">' + S.ctx.cameras.map(function (c) {
      return '<li data-camera="' + esc(c.code) + '"><span class="dot ' + esc(c.status) + '"></span>' + esc(c.code + " " + c.name + " (" + c.status + ")") + "</li>";
    }).join("") + "</ul>";
  }

  /* Buttons: exactly the actions the server allows this user on this incident now (its /context/). */
  function actionsHtml() {
    if (!S.ctx) { return '<p class="muted">…</p>'; }
    var buttons = S.ctx.allowed_actions;
    if (!buttons.length) { return '<p class="muted">无可执行操作 no action for you now</p>'; }
    return buttons.map(function (a) {
      var label = a === "relocate" ? "在地图上定位 place on map" : GL.actionLabel(a);
      return '<button type="button" class="act' + (a === "cancel" || a === "out_of_jurisdiction" ? " minor" : "") +
        '" data-action="' + esc(a) + '">' + esc(label) + "</button>";
    }).join("");
  }
  function submitAction(form) {
    var id = S.selected, p = S.feature.properties;
    form.querySelector("[type=submit]").disabled = true;
    GL.postJSON("/api/incidents/" + id + "/" + form.dataset.form + "/", GL.actionBody(form, S.feature)).then(function (feature) {
      S.form = null;
      S.error = "";
      store.apply(feature, "action");
      if (S.selected === id) { S.feature = feature; renderDetail(); reloadDetail(); }
    }).catch(function (err) {
      S.error = (err.status ? err.status + " · " : "") + err.message;
      form.querySelector("[type=submit]").disabled = false;
      renderInfoOnly(p);
    });
  }
  detail.addEventListener("click", function (e) {
    var t = e.target;
    if (t.closest("[data-close]")) { S.selected = null; S.form = null; stopPlacing(); highlightCameras([]); renderDetail(); scheduleLists(); return; }
    if (t.closest("[data-cancel]")) { S.form = null; renderDetail(); return; }
    var btn = t.closest("[data-action]");
    if (!btn || !S.feature) { return; }
    var a = btn.dataset.action;
    if (a === "relocate") { startPlacing(S.selected); return; }
    var previous = detail.querySelector(".action-form");
    if (previous) { previous.remove(); }
    S.form = a;
    S.error = "";
    renderDetail();
    detail.querySelector(".d-actions").insertAdjacentHTML("beforeend", GL.actionFormHtml(a, S.ctx && S.ctx.team));
    var ta = detail.querySelector(".action-form textarea");
    if (ta) { ta.focus(); }
  });
  detail.addEventListener("submit", function (e) { e.preventDefault(); submitAction(e.target); });

  /* ---- relocate a triage item by clicking the map ---- */
  var banner = document.getElementById("place-banner");
  function startPlacing(id) {
    S.placing = id;
    el.classList.add("placing");
    var p = S.feature.properties;
    banner.innerHTML = "点击地图放置 click the map to place <b>" + esc(p.reference) + "</b> " + esc(p.title) +
      ' <button type="button" data-stop>取消 cancel (Esc)</button>';
    banner.hidden = false;
  }
  function stopPlacing() { S.placing = null; el.classList.remove("placing"); banner.hidden = true; }
  banner.addEventListener("click", function (e) { if (e.target.closest("[data-stop]")) { stopPlacing(); } });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && S.placing) { stopPlacing(); } });
  map.on("click", function (e) { if (S.placing) { placeAt(e.latlng); } });
  function placeAt(latlng) {
    var id = S.placing, ll = latlng.wrap();
    stopPlacing();
    GL.postJSON("/api/incidents/" + id + "/relocate/", { lon: ll.lng, lat: ll.lat, note: "指挥中心地图定位 placed on the map" })
      .then(function (feature) { store.apply(feature, "action"); if (S.selected === id) { S.feature = feature; S.error = ""; renderDetail(); loadDetail(); } })
      .catch(function (err) { S.error = (err.status ? err.status + " · " : "") + err.message; renderDetail(); });
  }

  /* ---- the registry drives the map, lists, counts and the detail ---- */
  store.on(function (kind, f, old, via) {
    if (via === "initial") { return; }  // the initial load draws page by page
    syncMarker(f.id);
    if (S.selected === f.id) { S.feature = f; renderDetail(); reloadDetail(); }
    scheduleLists();
    scheduleStats();
  });

  function addLegend() {
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "legend");
      div.innerHTML = GL.OPEN_STATES.map(function (s) {
        return '<span><i style="background:' + GL.STATE[s][2] + '"></i>' + esc(GL.stateLabel(s)) + "</span>";
      }).join("") + '<span><i class="ring"></i>超期 overdue</span><span><i class="ring triage"></i>待分拣 triage</span>';
      return div;
    };
    legend.addTo(map);
  }

  /* ---- start: the socket, the layers, the open incidents page by page ---- */
  function showProgress(loaded, count) {
    var box = document.getElementById("feed").querySelector(".empty");
    if (box) { box.textContent = "加载事件 loading incidents " + loaded + " / " + count + " …"; }
  }
  var boundaries = [
    GL.getJSON("/api/me/").then(function (me) { S.me = me; S.roles = me.roles || []; G.me = me; }),
    GL.getJSON("/api/towns/").then(function (fc) { layers.town.addData(fc); }),
    GL.getJSON("/api/villages/").then(function (fc) {
      layers.villages.addData(fc);
      fillSelect("village", fc.features.map(function (f) { return [f.properties.code, f.properties.name]; }));
    }),
    GL.getJSON("/api/grids/?kind=comprehensive").then(function (fc) { layers.comprehensive.addData(fc); }),
    GL.getJSON("/api/grids/?kind=dedicated").then(function (fc) { layers.dedicated.addData(fc); }),
    GL.getJSON("/api/cameras/").then(addCameras),
    GL.getJSON("/api/categories/").then(function (cats) {
      fillSelect("category", cats.map(function (c) { return [c.code, c.name_zh + " " + c.name_en]; }));
    })
  ];
  var incidents = GL.loadOpen(store, function (features, loaded, count) {
    syncAll(features.map(function (f) { return f.id; }));
    scheduleLists();
    showProgress(loaded, count);
  });
  fillSelect("state", GL.OPEN_STATES.map(function (s) { return [s, GL.stateLabel(s)]; }));
  fillSelect("source", Object.keys(GL.SOURCE).map(function (k) { return [k, GL.SOURCE[k]]; }));
  readFilters();
  Object.keys(layers).forEach(function (k) { layers[k].addTo(map); });
  L.control.layers(null, {
    "镇 town": layers.town, "村居 villages": layers.villages, "综合网格 comprehensive grids": layers.comprehensive,
    "专属网格 dedicated grids": layers.dedicated, "摄像头 cameras": layers.cameras, "事件 incidents": layers.incidents,
    "待分拣(镇外) triage, outside the town": layers.triage
  }, { collapsed: false, position: "topright" }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  addLegend();

  // The socket listens from the start: what changes while the incidents load is applied too (an
  // older copy in a later page never overwrites a newer one).
  G.live = GL.connectLive({
    store: store, onStatus: showStatus,
    onMessage: function (msg) { if (msg.feature) { addFeed(msg.feature, msg.event, "live"); } },
    onCatchUp: function (features) { features.forEach(function (f) { addFeed(f, null, "catchup"); }); }
  });
  refreshStats();
  Promise.all(boundaries).then(function () {
    var b = layers.town.getBounds();
    if (!b.isValid()) { b = layers.villages.getBounds(); }
    if (b.isValid()) { map.fitBounds(b, { padding: [10, 10], animate: false }); }
    return incidents;
  }).then(function () {
    S.loaded = true;
    syncAll();
    renderLists();
    var box = document.getElementById("feed").querySelector(".empty");
    if (box) { box.textContent = "等待实时事件 waiting for live events…"; }
    el.dataset.loaded = "true";
  }).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });

  // Clocks run out while nothing changes: redraw symbols and lists every minute; tick the clock.
  setInterval(function () { if (S.loaded) { syncAll(); renderLists(); refreshStats(); } }, 60000);
  function tick() { document.getElementById("clock").textContent = GL.fmtTime(new Date().toISOString(), false); }
  tick();
  setInterval(tick, 1000);
}());
