/* The command centre: the whole town live on one map, with the feed, counts, filters, the triage
   queue and the selected incident's panel. Data come from the platform's own API and socket; nothing
   is requested outside the server. window.gridops is the page's handle for the curious and for tests. */
import {
  OPEN_STATES, SOURCE, debounce, esc, fmtRate, fmtTime, getJSON, isOverdue, stateClass, stateLabel, times
} from "web/helpers.js";
import { IncidentStore, loadOpen } from "web/store.js";
import { connectLive, showLiveStatus } from "web/socket.js";
import { boundaryLayers, boundaryOverlays, pageMap } from "web/layers.js";
import { clusterIcon, incidentMarkers } from "web/markers.js";
import { incidentLists } from "web/feed.js";
import { incidentPanel } from "web/panel.js";

const el = document.getElementById("map");
const map = pageMap(el, 19);
const store = new IncidentStore();
const S = { me: null, roles: [], loaded: false, filters: {} };

/* ---- layers ---- */
const boundaries = boundaryLayers(map, { ignoreClick: function () { return panel.placing(); } });
const layers = Object.assign({}, boundaries.layers, {
  incidents: L.markerClusterGroup({
    maxClusterRadius: 40, disableClusteringAtZoom: 17, showCoverageOnHover: false, chunkedLoading: true, animate: false,
    iconCreateFunction: clusterIcon
  }),
  triage: L.layerGroup()
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
filterForm.addEventListener("change", function () { readFilters(); markers.syncAll(); lists.render(); });

/* ---- the side panel: the selected incident, the lists and feed; the counts ---- */
const panel = incidentPanel({
  map: map, store: store, markers: markers, clusters: layers.incidents,
  highlightCameras: boundaries.highlightCameras, onSelect: function () { lists.schedule(); }
});
const lists = incidentLists({
  store: store, matches: matches, selected: panel.selected,
  onOpen: function (id) { panel.select(id, { pan: true }); }
});

function refreshStats() {
  getJSON("/api/incidents/stats/").then(function (s) {
    Object.keys(s).forEach(function (k) {
      const cell = document.querySelector('[data-stat="' + k + '"]');
      if (!cell) { return; }
      cell.textContent = k === "closure_rate_month" ? fmtRate(s[k]) : s[k];
    });
  }).catch(function (err) { console.warn("stats:", err.message); });
}
const scheduleStats = debounce(refreshStats, 1200);

/* ---- the registry drives the map, lists, counts (and the panel, on its own) ---- */
store.on(function (kind, f, old, via) {
  if (via === "initial") { return; }  // the initial load draws page by page
  markers.sync(f.id);
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

/* ---- start: the socket, the layers, the open incidents page by page ---- */
const G = window.gridops = {
  incidents: store.items, store: store, markers: markers.entries, select: panel.select, map: map, live: null
};
const loads = [
  getJSON("/api/me/").then(function (me) { S.me = me; S.roles = me.roles || []; G.me = me; }),
  boundaries.load().then(function (villages) {
    fillSelect("village", villages.features.map(function (f) { return [f.properties.code, f.properties.name]; }));
  }),
  getJSON("/api/categories/").then(function (cats) {
    fillSelect("category", cats.map(function (c) { return [c.code, c.name_zh + " " + c.name_en]; }));
  })
];
const incidents = loadOpen(store, function (features, loaded, count) {
  markers.syncAll(features.map(function (f) { return f.id; }));
  lists.schedule();
  lists.progress("加载事件 loading incidents " + loaded + " / " + count + " …");
});
fillSelect("state", OPEN_STATES.map(function (s) { return [s, stateLabel(s)]; }));
fillSelect("source", Object.keys(SOURCE).map(function (k) { return [k, SOURCE[k]]; }));
readFilters();
Object.keys(layers).forEach(function (k) { layers[k].addTo(map); });
L.control.layers(null, Object.assign(boundaryOverlays(layers), {
  "事件 incidents": layers.incidents, "待分拣(镇外) triage, outside the town": layers.triage
}), { collapsed: false, position: "topright" }).addTo(map);
L.control.scale({ imperial: false }).addTo(map);
addLegend();

// The socket listens from the start: what changes while the incidents load is applied too (an
// older copy in a later page never overwrites a newer one).
G.live = connectLive({
  store: store, onStatus: function (s) { showLiveStatus(s, false); },
  onMessage: function (msg) { if (msg.feature) { lists.addFeed(msg.feature, msg.event, "live"); } },
  onCatchUp: function (features) { features.forEach(function (f) { lists.addFeed(f, null, "catchup"); }); }
});
refreshStats();
Promise.all(loads).then(function () {
  let b = layers.town.getBounds();
  if (!b.isValid()) { b = layers.villages.getBounds(); }
  if (b.isValid()) { map.fitBounds(b, { padding: [10, 10], animate: false }); }
  return incidents;
}).then(function () {
  S.loaded = true;
  markers.syncAll();
  lists.render();
  lists.progress("等待实时事件 waiting for live events…");
  el.dataset.loaded = "true";
}).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });

// Clocks run out while nothing changes: redraw symbols and lists every minute; tick the clock.
setInterval(function () { if (S.loaded) { markers.syncAll(); lists.render(); refreshStats(); } }, 60000);
function tick() { document.getElementById("clock").textContent = fmtTime(new Date().toISOString(), false); }
tick();
setInterval(tick, 1000);
