/* The command centre: the town (or the city) live on one map, with the feed, counts, filters, the triage
   queue and the selected incident's panel. The map never loads every incident: it asks the server for its
   view (/api/incidents/view/), which answers the open incidents there, or, when there are more than the
   page's limit, their counts per town, village or grid, drawn as numbered circles with a "zoom in" hint.
   Lists are paged on the server. Data come from the platform's own API and socket; nothing is requested
   outside the server. window.gridops is the page's handle for the curious and for tests. */
import {
  OPEN_STATES, SOURCE, debounce, esc, fmtRate, fmtTime, getJSON, isOverdue, stateClass, stateLabel, throttle, times
} from "web/helpers.js";
import { IncidentStore } from "web/store.js";
import { mountBell } from "web/bell.js";
import { connectLive, showLiveStatus } from "web/socket.js";
import { boundaryLayers, boundaryOverlays, componentLayer, pageMap } from "web/layers.js";
import { clusterIcon, incidentMarkers } from "web/markers.js";
import { incidentLists } from "web/feed.js";
import { incidentPanel } from "web/panel.js";

const el = document.getElementById("map");
const map = pageMap(el, 19);
const store = new IncidentStore();
const S = { me: null, roles: [], loaded: false, filters: {}, view: null, bounds: null, seq: 0 };
const VIEW_LIMIT = window.GRIDOPS_VIEW_LIMIT || 500;  // incidents in one view (the server's cap: 2000)

/* ---- layers ---- */
const boundaries = boundaryLayers(map, { ignoreClick: function () { return panel.placing(); } });
const components = componentLayer(map);
const layers = Object.assign({}, boundaries.layers, {
  components: components.layer,
  incidents: L.markerClusterGroup({
    maxClusterRadius: 40, disableClusteringAtZoom: 17, showCoverageOnHover: false, chunkedLoading: true, animate: false,
    iconCreateFunction: clusterIcon
  }),
  triage: L.layerGroup(),
  aggregates: L.layerGroup()
});
const markers = incidentMarkers(store, {
  layers: layers,
  want: function (f) { return f.properties.triage ? "triage" : matches(f.properties) ? "incidents" : null; },
  tooltip: function (f) {
    const p = f.properties;
    return "<b>" + esc(p.reference) + "</b> " + esc(p.category_name) + " · " + esc(stateLabel(p.state)) +
      (isOverdue(p) ? " · <b class='late'>超期 overdue</b>" : "") + "<br>" + esc(p.title);
  },
  onClick: function (id, e) { if (panel.placing()) { panel.placeAt(e.latlng); } else { panel.select(id); } }
});

/* ---- filters ---- */
const filterForm = document.getElementById("filters");
function readFilters() {
  const fd = new FormData(filterForm);
  S.filters = { category: fd.get("category"), state: fd.get("state"), source: fd.get("source"),
                village: fd.get("village"), period: fd.get("period"), overdue: fd.get("overdue") === "on" };
}
function matches(p) {
  const f = S.filters;
  if (f.category && p.category !== f.category) { return false; }
  if (f.state && p.state !== f.state) { return false; }
  if (f.source && p.source !== f.source) { return false; }
  if (f.village && p.village_code !== f.village) { return false; }
  if (f.overdue && !isOverdue(p)) { return false; }
  if (f.period) {
    const start = new Date();
    if (f.period === "today") { start.setHours(0, 0, 0, 0); } else { start.setDate(start.getDate() - Number(f.period)); }
    if (times(p).created < start.getTime()) { return false; }
  }
  return true;
}
function fillSelect(name, options) {
  const sel = filterForm.elements[name];
  options.forEach(function (o) { sel.insertAdjacentHTML("beforeend", '<option value="' + esc(o[0]) + '">' + esc(o[1]) + "</option>"); });
}
/* The filters as the API takes them (the list and the map's view). */
function filterQuery() {
  const f = S.filters, q = [];
  (f.state ? [f.state] : OPEN_STATES).forEach(function (s) { q.push("state=" + encodeURIComponent(s)); });
  ["category", "source", "village"].forEach(function (k) { if (f[k]) { q.push(k + "=" + encodeURIComponent(f[k])); } });
  if (f.overdue) { q.push("overdue=true"); }
  if (f.period) {
    const start = new Date();
    if (f.period === "today") { start.setHours(0, 0, 0, 0); } else { start.setDate(start.getDate() - Number(f.period)); }
    q.push("created_after=" + encodeURIComponent(start.toISOString()));
  }
  return "&" + q.join("&");
}
filterForm.addEventListener("change", function () { readFilters(); markers.syncAll(); lists.reload(); loadView(); });

/* ---- the side panel: the selected incident, the lists and feed; the counts ---- */
const panel = incidentPanel({
  map: map, store: store, markers: markers, clusters: layers.incidents,
  onFetched: function (f) { store.apply(f, "select"); },
  highlightCameras: boundaries.highlightCameras, onSelect: function () { lists.schedule(); }
});
const lists = incidentLists({
  query: filterQuery, selected: panel.selected,
  onOpen: function (id) { panel.select(id, { pan: true }); }
});

/* ---- the map's view: the incidents in it, or counts per area when there are more than VIEW_LIMIT ---- */
const hint = document.getElementById("view-hint");
function aggregateIcon(p) {
  const n = p.open, size = n < 100 ? 34 : n < 10000 ? 44 : 54;
  return L.divIcon({ className: "agg-bubble agg-" + p.area, html: "<span>" + esc(n.toLocaleString("en")) + "</span>",
                     iconSize: [size, size] });
}
function drawAggregates(fc) {
  layers.aggregates.clearLayers();
  fc.features.forEach(function (f) {
    const p = f.properties, c = f.geometry.coordinates;
    L.marker([c[1], c[0]], { icon: aggregateIcon(p), keyboard: false, area: p.code })
      .bindTooltip(esc(p.name) + " · 在办 " + esc(p.open) + " open", { direction: "top" })
      .on("click", function (e) { map.setView(e.latlng, Math.min(map.getZoom() + 2, 19)); })
      .addTo(layers.aggregates);
  });
}
function showHint(view) {
  hint.hidden = !view.capped;
  hint.textContent = !view.capped ? "" : view.kind === "aggregates"
    ? "此范围事件超过 " + view.limit + " 件，按" + { town: "镇", village: "村居", grid: "网格" }[view.by] +
      "统计 · more than " + view.limit + " incidents here: counts per " + view.by + " — zoom in to see them"
    : "仅显示 " + view.limit + " 件 · showing " + view.limit + " of more — zoom in to see all";
}
function inView(f) {
  if (f.id === panel.selected()) { return true; }
  if (!S.view || S.view.kind !== "incidents" || !S.bounds) { return false; }
  const ll = f.geometry && f.geometry.type === "Point" ? L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]) : null;
  return ll ? S.bounds.contains(ll) : false;
}
store.accept = inView;
/* Ask the server for the view (the map's bounds and zoom, the filters); an older answer arriving late is dropped. */
function loadView() {
  const seq = ++S.seq, bounds = map.getBounds(), zoom = map.getZoom();
  const url = "/api/incidents/view/?bbox=" + bounds.toBBoxString() + "&zoom=" + zoom + "&limit=" + VIEW_LIMIT + filterQuery();
  el.dataset.view = "loading";
  return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
    if (!r.ok) { throw Object.assign(new Error("view: HTTP " + r.status), { status: r.status }); }
    const cursor = r.headers.get("X-Changes-Cursor");
    return r.json().then(function (fc) { return [fc, cursor]; });
  }).then(function (answer) {
    if (seq !== S.seq) { return; }
    const fc = answer[0];
    S.view = { kind: fc.kind, by: fc.by, capped: fc.capped, limit: fc.limit, count: fc.features.length, zoom: zoom };
    S.bounds = bounds;
    store.advance(answer[1]);
    if (fc.kind === "aggregates") { store.replaceAll([], "view", panel.selected()); drawAggregates(fc); } else {
      layers.aggregates.clearLayers();
      store.replaceAll(fc.features, "view", panel.selected());
    }
    markers.syncAll();
    showHint(S.view);
    G.view = S.view;
    el.dataset.view = fc.kind;
  }).catch(function (err) { if (seq === S.seq) { el.dataset.view = "error"; console.error(err); } });
}
const scheduleView = debounce(loadView, 200);
// Live changes move the counts: the view is read again (at most every 2 s) when it shows counts.
const refreshCounts = throttle(function () { if (S.view && S.view.kind === "aggregates") { loadView(); } }, 2000);

function refreshStats() {
  getJSON("/api/incidents/stats/").then(function (s) {
    Object.keys(s).forEach(function (k) {
      const cell = document.querySelector('[data-stat="' + k + '"]');
      if (!cell) { return; }
      cell.textContent = k === "closure_rate_month" ? fmtRate(s[k]) : s[k];
    });
  }).catch(function (err) { console.warn("stats:", err.message); });
}
const scheduleStats = throttle(refreshStats, 1500);

/* ---- the registry drives the map, lists, counts (and the panel, on its own) ---- */
store.on(function (kind, f, old, via) {
  if (via === "view") { return; }  // a new view draws all at once
  markers.sync(f.id);
  if (via === "select") { return; }  // the selected incident, read for the panel: on the map, nothing else changed
  lists.schedule();
  scheduleStats();
});

function addLegend() {
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML = OPEN_STATES.map(function (s) {
      return '<span><i class="' + stateClass(s) + '"></i>' + esc(stateLabel(s)) + "</span>";
    }).join("") + '<span><i class="ring"></i>超期 overdue</span><span><i class="ring triage"></i>待分拣 triage</span>';
    return div;
  };
  legend.addTo(map);
}

/* ---- start: the first view, the layers, the socket ---- */
const G = window.gridops = {
  incidents: store.items, store: store, markers: markers.entries, select: panel.select, map: map, live: null,
  view: null, aggregates: layers.aggregates, loadView: loadView
};
// The first view: the towns' bounds (from the page's data, no boundary load needed), then the incidents there,
// asked for before the boundaries, the user and the categories.
const first = (function () {
  const b = (el.dataset.bounds || "").split(",").map(Number);
  if (b.length === 4 && b.every(isFinite)) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10], animate: false }); }
  store.loading = loadView();
  return store.loading;
})();
const loads = [
  getJSON("/api/me/").then(function (me) { S.me = me; S.roles = me.roles || []; G.me = me; }),
  boundaries.load().then(function (villages) {
    fillSelect("village", villages.features.map(function (f) { return [f.properties.code, f.properties.name]; }));
  }),
  getJSON("/api/categories/").then(function (cats) {
    fillSelect("category", cats.map(function (c) { return [c.code, c.name_zh + " " + c.name_en]; }));
  }),
  components.load()
];
fillSelect("state", OPEN_STATES.map(function (s) { return [s, stateLabel(s)]; }));
fillSelect("source", Object.keys(SOURCE).map(function (k) { return [k, SOURCE[k]]; }));
readFilters();
Object.keys(layers).forEach(function (k) { layers[k].addTo(map); });
L.control.layers(null, Object.assign(boundaryOverlays(layers), {
  "事件 incidents": layers.incidents, "待分拣(镇外) triage, outside the town": layers.triage,
  "事件统计 counts": layers.aggregates, "部件 components": layers.components
}), { collapsed: false, position: "topright" }).addTo(map);
L.control.scale({ imperial: false }).addTo(map);
addLegend();

// The socket listens from the start: what changes while the incidents load is applied too (an
// older copy in a later page never overwrites a newer one).
G.bell = mountBell(document.getElementById("bell"), { onOpen: function (id) { panel.select(id, { pan: true }); } });
G.live = connectLive({
  store: store, onStatus: function (s) { showLiveStatus(s, false); }, onInbox: function () { G.bell.refresh(); },
  onMessage: function (msg) { if (msg.feature) { lists.addFeed(msg.feature, msg.event, "live"); refreshCounts(); } },
  onCatchUp: function (features) {
    features.forEach(function (f) { lists.addFeed(f, null, "catchup"); });
    if (features.length) { refreshCounts(); lists.schedule(); }
  }
});
map.on("moveend", function () { if (S.loaded) { scheduleView(); } });
Promise.all(loads.concat([first])).then(function () {
  S.loaded = true;
  refreshStats();  // after the first view: the counts' aggregate does not hold the map up
  markers.syncAll();
  lists.reload();
  el.dataset.loaded = "true";
}).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });

// Clocks run out while nothing changes: redraw symbols every minute, read the counts and lists again; tick the clock.
setInterval(function () { if (S.loaded) { markers.syncAll(); lists.schedule(); refreshStats(); } }, 60000);
function tick() { document.getElementById("clock").textContent = fmtTime(new Date().toISOString(), false); }
tick();
setInterval(tick, 1000);
