/* The leaders' review (研判): where incidents recur (a heatmap of metric cells and the hotspots), how
   their number moves (reported and closed per day or week), and the assessment figures (结案率,
   按期结案率 ...) by village, grid or person. Every figure comes from the server, scoped to the user. */
import { debounce, esc, fmtRate, getJSON } from "web/helpers.js";
import { boundaryView, pageMap, VIEW_ZOOM } from "web/layers.js";
import { patrolTracks } from "web/tracks.js";

var el = document.getElementById("map");
var map = pageMap(el, 18);
var form = document.getElementById("filters");
var names = {};  // category code -> Chinese name
var G = window.gridops = { map: map, cells: [], trend: [], assessment: null, loads: 0 };

var outlines = {
  villages: L.geoJSON(null, { style: { color: "#5a3e9b", weight: 2, fill: false }, interactive: false }),
  grids: L.geoJSON(null, { style: { color: "#2b7bb9", weight: 1, fillOpacity: 0 },
                           onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.name), { sticky: true }); } })
};
var heat = L.heatLayer([], { radius: 28, blur: 22, maxZoom: 15, minOpacity: 0.3 });
var hot = L.layerGroup();
outlines.villages.addTo(map);
outlines.grids.addTo(map);
heat.addTo(map);
hot.addTo(map);
var tracks = patrolTracks(map, document.getElementById("tracks"));
tracks.layer.addTo(map);
L.control.layers(null, { "村居 villages": outlines.villages, "网格 grids": outlines.grids, "热力 heatmap": heat,
                         "热点 hotspots": hot, "巡查轨迹 tracks": tracks.layer }, { collapsed: false }).addTo(map);
G.heat = heat;
G.tracks = tracks;
tracks.load();

/* The period of the filters: [start, end) as ISO strings, and the trend's bucket. */
function period() {
  var v = form.elements.period.value, end = new Date(), start;
  if (v === "month" || v === "last-month") {
    start = new Date(end.getFullYear(), end.getMonth() - (v === "month" ? 0 : 1), 1);
    if (v === "last-month") { end = new Date(end.getFullYear(), end.getMonth(), 1); }
  } else {
    start = new Date(end.getTime() - Number(v) * 86400000);
  }
  var days = (end - start) / 86400000;
  return { start: start.toISOString(), end: end.toISOString(), bucket: days > 92 ? "week" : "day" };
}
function query(extra) {
  var p = period(), q = new URLSearchParams({ start: p.start, end: p.end });
  if (form.elements.category.value) { q.append("category", form.elements.category.value); }
  Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
  return q.toString();
}

/* The heatmap answer in the cells layout: every cell as [lon, lat, count], the fullest first, and the
   fullest few (body.hotspots) as features with their categories and main grid. */
function drawHeat(body) {
  var max = body.cells.length ? body.cells[0][2] : 1;
  heat.setOptions({ max: 1 });
  heat.setLatLngs(body.cells.map(function (c) { return [c[1], c[0], c[2] / max]; }));
  hot.clearLayers();
  var spots = body.hotspots.filter(function (f) { return f.properties.count >= 3; }).slice(0, 10);
  spots.forEach(function (f, n) {
    var c = f.geometry.coordinates;
    L.circleMarker([c[1], c[0]], { radius: 7, color: "#c92a2a", weight: 2, fillOpacity: 0.15 })
      .bindTooltip(String(n + 1), { permanent: true, direction: "center", className: "hot-label" })
      .bindPopup(spotHtml(f, n)).addTo(hot);
  });
  document.getElementById("total").textContent = "视图内 in view: " + body.total + " 件 incidents, " + body.cells.length +
    " 个单元 cells" + (body.capped ? " (最多的 the fullest " + body.cells.length + ")" : "");
  document.getElementById("hotspots").innerHTML = spots.length ? spots.map(function (f, n) {
    return '<li data-hotspot="' + n + '">' + spotHtml(f, n) + "</li>";
  }).join("") : '<li class="muted">无 3 件以上的单元 no cell with 3 or more</li>';
  G.cells = body.cells;
  G.hotspots = spots;
}
function spotHtml(f, n) {
  var p = f.properties, cats = Object.keys(p.categories).sort(function (a, b) { return p.categories[b] - p.categories[a]; });
  return "<b>" + esc(p.count) + "</b> 件 · " + esc(cats.map(function (c) { return (names[c] || c) + " " + p.categories[c]; }).join("、")) +
    (p.grid_name ? ' <span class="muted">' + esc(p.grid_name) + "</span>" : "");
}
document.getElementById("hotspots").addEventListener("click", function (e) {
  var li = e.target.closest("[data-hotspot]");
  if (!li) { return; }
  var c = G.hotspots[Number(li.dataset.hotspot)].geometry.coordinates;
  map.setView([c[1], c[0]], Math.max(map.getZoom(), 15));
});

/* The components (部件) with the most incidents in the period. */
function drawComponents(body) {
  document.getElementById("component-hotspots").innerHTML = body.components.length ? body.components.map(function (c) {
    return '<li data-component="' + esc(c.code) + '"><b>' + esc(c.incidents) + "</b> 件 · " + esc(c.type_name) + " <code>" +
      esc(c.code) + "</code>" + (c.name ? " " + esc(c.name) : "") + ' <span class="muted">' + esc(c.open) + " 未结 open</span></li>";
  }).join("") : '<li class="muted">无 none</li>';
  G.components = body.components;
}

/* Reported per bucket as bars, closed as a line, on one scale. */
function drawTrend(body) {
  var s = body.series, w = 420, h = 150, pad = 22, n = Math.max(s.length, 1);
  var top = s.reduce(function (m, b) { return Math.max(m, b.reported, b.closed); }, 1);
  var bw = (w - pad) / n, y = function (v) { return h - pad - (h - 2 * pad) * v / top; };
  var bars = s.map(function (b, i) {
    return '<rect class="bar" data-start="' + esc(b.start) + '" x="' + (pad + i * bw + 0.5).toFixed(1) + '" y="' + y(b.reported).toFixed(1) +
      '" width="' + Math.max(bw - 1, 0.5).toFixed(1) + '" height="' + (h - pad - y(b.reported)).toFixed(1) + '"><title>' +
      esc(b.start.slice(0, 10) + ": " + b.reported + " 上报 reported, " + b.closed + " 结案 closed") + "</title></rect>";
  }).join("");
  var line = s.map(function (b, i) { return (pad + (i + 0.5) * bw).toFixed(1) + "," + y(b.closed).toFixed(1); }).join(" ");
  var first = s.length ? s[0].start.slice(5, 10) : "", last = s.length ? s[s.length - 1].start.slice(5, 10) : "";
  document.getElementById("trend").innerHTML = '<svg viewBox="0 0 ' + w + " " + h + '" role="img" aria-label="trend">' +
    '<text x="2" y="' + (pad - 8) + '">' + esc(top) + "</text>" + '<text x="2" y="' + (h - pad) + '">0</text>' + bars +
    '<polyline class="closed" points="' + line + '"></polyline>' +
    '<text x="' + pad + '" y="' + (h - 6) + '">' + esc(first) + "</text>" +
    '<text x="' + (w - 34) + '" y="' + (h - 6) + '">' + esc(last) + "</text></svg>" +
    '<div class="rv-legend"><span><i class="reported"></i>上报 reported</span>' +
    '<span><i class="closed"></i>结案 closed</span></div>';
  document.getElementById("trend-bucket").textContent = body.bucket === "week" ? "按周 by week" : "按日 by day";
  G.trend = s;
}

// The assessment's columns on the page (the Excel and CSV files have every count and rate of the standard).
var ASSESSMENT_COLUMNS = [
  ["accepted", "受理 accepted"], ["registration_rate", "立案率", true], ["accurate_dispatch_rate", "准确派遣率", true],
  ["closed", "结案 closed"], ["closure_rate", "结案率", true], ["on_time_rate", "按期结案率", true],
  ["rework_rate", "返工率", true], ["satisfaction_rate", "满意率", true], ["avg_handling_min", "平均分钟 avg min"],
  ["overdue_now", "超期 overdue"], ["presence", "在岗率", true, "person"]  // a person's (their patrols' days)
];

/* The assessment's page: the rows ranked on the server (a city's thousands of grids or persons a page
   at a time, the total of them all in the footer). A header ranks by its column (again: the other way);
   the pager moves through the ranking. */
var assess = G.assess = { order: "code", offset: 0, limit: 200, serial: 0 };
function drawAssessment(body) {
  var shown = ASSESSMENT_COLUMNS.filter(function (c) { return !c[3] || c[3] === body.group; });
  var cell = function (r, c) {
    var v = r[c[0]];
    if (c[2]) { return esc(fmtRate(v)); }
    return v === null ? "–" : esc(c[0] === "avg_handling_min" ? Math.round(v) : v);
  };
  var row = function (r) {
    return "<tr><td>" + esc(r.name) + "</td>" +
      shown.map(function (c) { return "<td>" + cell(r, c) + "</td>"; }).join("") + "</tr>";
  };
  var head = function (key, label) {
    var mark = body.order === key ? " ↑" : body.order === "-" + key ? " ↓" : "";
    return '<th data-order="' + esc(key) + '" title="排序 rank">' + esc(label) + mark + "</th>";
  };
  var last = Math.min(body.offset + body.rows.length, body.count);
  var pager = body.count > body.rows.length || body.offset > 0
    ? '<div class="rv-pager"><button type="button" data-page="-1"' + (body.offset > 0 ? "" : " disabled") +
      ">‹ 上一页 prev</button> <span>" + (body.count ? body.offset + 1 : 0) + "–" + last + " / " + body.count +
      '</span> <button type="button" data-page="1"' + (last < body.count ? "" : " disabled") +
      ">下一页 next ›</button></div>"
    : "";
  document.getElementById("assessment").innerHTML = '<table class="rv-table"><thead><tr>' + head("name", "名称 name") +
    shown.map(function (c) { return head(c[0], c[1]); }).join("") +
    "</tr></thead><tbody>" + body.rows.map(row).join("") +
    "</tbody><tfoot>" + row(Object.assign({}, body.totals, { name: "合计 total" })) + "</tfoot></table>" + pager;
  G.assessment = body;
}
function loadAssessment(p) {  // resolves null when a later request was made meanwhile
  var mine = ++assess.serial;
  return getJSON("/api/assessment/?" + assessmentQuery(p, { offset: assess.offset, limit: assess.limit }))
    .then(function (b) { return mine === assess.serial ? b : null; });
}
document.getElementById("assessment").addEventListener("click", function (ev) {
  var th = ev.target.closest("th[data-order]"), button = ev.target.closest("button[data-page]");
  if (th) {
    var key = th.dataset.order;
    // counts and rates rank the most first; names and codes from the start
    var first = key === "name" ? key : "-" + key;
    assess.order = assess.order === first ? (first.charAt(0) === "-" ? key : "-" + key) : first;
    assess.offset = 0;
  } else if (button && !button.disabled) {
    assess.offset = Math.max(0, assess.offset + Number(button.dataset.page) * assess.limit);
  } else {
    return;
  }
  var p = period(), box = document.getElementById("assessment");
  linkExports(p);
  box.dataset.state = "loading";
  loadAssessment(p).then(function (b) {
    if (b) { drawAssessment(b); box.dataset.state = "ready"; }
  }).catch(function (err) { box.dataset.state = "error"; console.error(err); });
});

// The files of the assessment on screen (the same query as the table), and the monthly report of the
// month the period ends in.
function linkExports(p) {
  ["xlsx", "csv"].forEach(function (kind) {
    document.getElementById("export-" + kind).href = "/api/assessment/" + kind + "/?" + assessmentQuery(p);
  });
  var last = new Date(new Date(p.end).getTime() - 1);
  document.getElementById("report-link").href = "/review/report/?month=" + last.getFullYear() + "-" +
    String(last.getMonth() + 1).padStart(2, "0");
}

function assessmentQuery(p, page) {
  return new URLSearchParams(Object.assign({ group: form.elements.group.value, start: p.start, end: p.end,
                                             order: assess.order }, page || {}));
}

/* The heatmap of the view (with a margin, so a small pan asks nothing): a city's year of cells is
   asked for only where the map looks. Answers that arrive after a newer request's are dropped. */
var heatView = G.heatView = { covered: null, serial: 0 };
function viewBox() {
  var b = map.getBounds().pad(0.5), clamp = function (v, m) { return Math.max(-m, Math.min(m, v)); };
  return L.latLngBounds([clamp(b.getSouth(), 85), clamp(b.getWest(), 180)], [clamp(b.getNorth(), 85), clamp(b.getEast(), 180)]);
}
function loadHeat(force) {
  if (!force && heatView.covered && heatView.covered.contains(map.getBounds())) { return Promise.resolve(null); }
  var box = viewBox(), mine = ++heatView.serial;
  return getJSON("/api/review/heatmap/?" + query({ cell: form.elements.cell.value, bbox: box.toBBoxString(),
                                                   layout: "cells", hotspots: 10 }))
    .then(function (body) {
      if (mine !== heatView.serial) { return null; }
      heatView.covered = box;
      drawHeat(body);
      return body;
    });
}
map.on("moveend", debounce(function () { if (el.dataset.loaded === "true") { loadHeat(false); } }, 250));

var pending = 0;
function reload() {
  var p = period();
  linkExports(p);
  document.body.dataset.review = "loading";
  pending += 1;
  assess.offset = 0;  // another period or filter: the ranking's first page
  var mine = pending;
  return Promise.all([
    loadHeat(true),
    getJSON("/api/review/trend/?" + query({ bucket: p.bucket })).then(function (b) { if (mine === pending) { drawTrend(b); } }),
    getJSON("/api/components/hotspots/?" + query({ limit: 10 })).then(function (b) { if (mine === pending) { drawComponents(b); } }),
    loadAssessment(p).then(function (b) { if (b && mine === pending) { drawAssessment(b); } })
  ]).then(function () {
    if (mine !== pending) { return; }
    G.loads += 1;
    document.body.dataset.review = "ready";
  }).catch(function (err) {
    document.body.dataset.review = "error";
    console.error(err);
  });
}
form.addEventListener("change", reload);

Promise.all([
  getJSON("/api/categories/").then(function (cats) {
    var list = cats.results || cats;
    list.forEach(function (c) { names[c.code] = c.name_zh; });
    form.elements.category.insertAdjacentHTML("beforeend", list.map(function (c) {
      return '<option value="' + esc(c.code) + '">' + esc(c.name_zh + " " + c.name_en) + "</option>";
    }).join(""));
  }),
  // the outlines of the view (a city's thousands of grids are asked for only when zoomed in)
  boundaryView(map, "/api/villages/", VIEW_ZOOM.villages, function (fc) {
    outlines.villages.clearLayers(); outlines.villages.addData(fc);
  }).ready,
  boundaryView(map, "/api/grids/?kind=comprehensive", VIEW_ZOOM.grids, function (fc) {
    outlines.grids.clearLayers(); outlines.grids.addData(fc);
  }).ready.then(function () {
    var b = outlines.grids.getBounds();
    if (b.isValid()) { map.fitBounds(b, { padding: [10, 10], animate: false }); }
  })
]).then(function () {
  el.dataset.loaded = "true";
  return reload();
}).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });
