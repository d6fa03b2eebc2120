/* The planner's boundary editor (网格办): start a draft from the active generation, move grid
   vertices, save, check what publishing would change, publish. The server decides what is valid
   (the preview, and the publication, which refuses a draft that does not partition its villages).

   The vertex editor is the platform's own (a few dozen lines on Leaflet markers): a vertex that
   neighbouring grids of the same kind share moves in all of them at once, so moving an edge keeps the
   partition whole. Leaflet-Geoman's free edition edits one layer at a time; moving shared vertices
   together ("pinning") is in its paid edition only. */
import { esc, getJSON, postJSON, request } from "web/helpers.js";
import { pageMap } from "web/layers.js";

var el = document.getElementById("map");
var map = pageMap(el, 20);
var body = document.body;
var S = { generations: [], current: null, grids: new Map(), vertices: new Map(), selected: null,
          dirty: new Set(), preview: null };
var gridLayer = L.layerGroup().addTo(map), handles = L.layerGroup().addTo(map);
map.on("zoomend", function () { if (S.selected) { showHandles(); } });  // which edges have a middle handle
var $ = function (id) { return document.getElementById(id); };
window.gridops = { map: map, state: S, handleAt: handleAt, select: select, midpoints: function () { return midpoints(); } };

function message(text, bad) {
  var m = $("message");
  m.textContent = text || "";
  m.className = "pl-message" + (bad ? " bad" : "");
}
function key(lon, lat) { return lon + "," + lat; }
function isDraft() { return S.current && S.current.status === "draft"; }

/* ---- generations ---- */
function loadGenerations(openId) {
  return getJSON("/api/generations/").then(function (list) {
    S.generations = list.filter(function (g) { return g.town === body.dataset.town; });
    var target = S.generations.find(function (g) { return g.id === openId; }) ||
      S.generations.find(function (g) { return g.status === "draft"; }) ||
      S.generations.find(function (g) { return g.status === "active"; });
    renderGenerations();
    return target ? open(target) : null;
  });
}
function renderGenerations() {
  $("generations").innerHTML = S.generations.map(function (g) {
    return '<li data-generation="' + esc(g.id) + '" class="' + (S.current && S.current.id === g.id ? "current" : "") + '">' +
      '<span class="status ' + esc(g.status) + '">' + esc(g.status) + "</span> #" + esc(g.id) + " " + esc(g.description || "") +
      ' <span class="muted">' + (g.grids === null ? "" : esc(g.grids) + " 网格 grids") + "</span></li>";
  }).join("");
}
$("generations").addEventListener("click", function (e) {
  var li = e.target.closest("[data-generation]");
  if (!li) { return; }
  if (S.dirty.size && !window.confirm("放弃未保存的修改？ Discard the unsaved changes?")) { return; }
  open(S.generations.find(function (g) { return g.id === Number(li.dataset.generation); }));
});
$("new-draft").addEventListener("click", function () {
  message("…");
  postJSON("/api/generations/", { town: body.dataset.town, description: "" }).then(function (draft) {
    message("草稿 #" + draft.id + " 已建 draft created: " + draft.grids + " grids and their teams copied");
    return loadGenerations(draft.id);
  }).catch(function (err) { message(err.message, true); });
});

/* ---- the grids of one generation ---- */
function open(generation) {
  S.current = generation;
  S.selected = null;
  S.dirty.clear();
  S.preview = null;
  renderGenerations();
  handles.clearLayers();
  $("editing").hidden = $("preview-block").hidden = !isDraft();
  $("preview-result").innerHTML = "";
  $("publish").disabled = true;
  ["gpkg", "geojson"].forEach(function (t) {
    $("export-" + t).href = "/api/generations/" + generation.id + "/export/?filetype=" + t;
  });
  body.dataset.planner = "loading";
  return getJSON("/api/generations/" + generation.id + "/grids/").then(function (fc) {
    gridLayer.clearLayers();
    handles.clearLayers();
    S.grids.clear();
    fc.features.forEach(function (f) {
      var polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      var grid = { code: f.properties.code, props: f.properties, polys: polys, layer: null };
      grid.layer = L.polygon(latLngs(polys), styleOf(grid)).bindTooltip(esc(grid.code.slice(-3) + " " + grid.props.name),
                                                                        { sticky: true });
      grid.layer.on("click", function () { select(grid.code); });
      grid.layer.addTo(gridLayer);
      S.grids.set(grid.code, grid);
    });
    indexVertices();
    if (!map._loadedOnce) {
      var b = gridLayer.getLayers().length ? L.featureGroup(gridLayer.getLayers()).getBounds() : null;
      if (b && b.isValid()) { map.fitBounds(b, { padding: [10, 10], animate: false }); }
      map._loadedOnce = true;
    }
    $("editing-what").textContent = "#" + generation.id;
    renderEditing();
    body.dataset.planner = "ready";
    el.dataset.loaded = "true";
  }).catch(function (err) { body.dataset.planner = "error"; message(err.message, true); });
}
function latLngs(polys) {
  return polys.map(function (rings) {
    return rings.map(function (ring) { return ring.slice(0, -1).map(function (c) { return [c[1], c[0]]; }); });
  });
}
function styleOf(grid) {
  var dedicated = grid.props.kind === "dedicated", sel = S.selected === grid.code, dirty = S.dirty.has(grid.code);
  return { color: sel ? "#c92a2a" : dedicated ? "#d9480f" : "#2b7bb9", weight: sel ? 3 : dedicated ? 2 : 1,
           dashArray: dedicated ? "4 3" : null, fillColor: dirty ? "#ffd43b" : dedicated ? "#ffa94d" : "#9cc9ea",
           fillOpacity: dirty ? 0.35 : 0.15 };
}
/* Every vertex position -> where it occurs: [grid code, polygon, ring, index], within one kind. */
function indexVertices() {
  S.vertices.clear();
  S.grids.forEach(function (grid) {
    grid.polys.forEach(function (rings, p) {
      rings.forEach(function (ring, r) {
        ring.forEach(function (c, i) {
          var k = grid.props.kind + "|" + key(c[0], c[1]);
          if (!S.vertices.has(k)) { S.vertices.set(k, []); }
          S.vertices.get(k).push([grid.code, p, r, i]);
        });
      });
    });
  });
}
function sharers(k) {
  var codes = new Set();
  (S.vertices.get(k) || []).forEach(function (ref) { codes.add(ref[0]); });
  return codes;
}

/* ---- selecting a grid, moving vertices ---- */
function select(code) {
  S.selected = code;
  S.grids.forEach(function (g) { g.layer.setStyle(styleOf(g)); });
  showHandles();
  renderEditing();
}
function showHandles() {
  handles.clearLayers();
  var grid = S.grids.get(S.selected);
  if (!grid || !isDraft()) { return; }
  var seen = new Set();
  grid.polys.forEach(function (rings) {
    rings.forEach(function (ring) {
      ring.slice(0, -1).forEach(function (c) {
        var k = grid.props.kind + "|" + key(c[0], c[1]);
        if (seen.has(k)) { return; }
        seen.add(k);
        var shared = sharers(k).size > 1;
        var m = L.marker([c[1], c[0]], {
          draggable: true, keyboard: false, zIndexOffset: 1000,  // above the edges' middle handles
          icon: L.divIcon({ className: "vx" + (shared ? " shared" : ""), iconSize: [12, 12] })
        });
        m.vertexKey = k;
        m.on("drag", function () { moveVertex(m, m.getLatLng()); });
        m.on("dragend", function () { renderEditing(); });
        m.on("dblclick", function () { removeVertex(m.vertexKey); });
        m.addTo(handles);
      });
      // A handle in the middle of each edge: dragging it adds a vertex there, in every grid with that edge.
      for (var i = 0; i + 1 < ring.length; i++) { midpointHandle(grid, ring[i], ring[i + 1]); }
    });
  });
}
function midpointHandle(grid, a, b) {
  // only where the edge is long enough on screen for its middle to be clear of both ends
  if (map.latLngToContainerPoint([a[1], a[0]]).distanceTo(map.latLngToContainerPoint([b[1], b[0]])) < 36) { return; }
  var m = L.marker([(a[1] + b[1]) / 2, (a[0] + b[0]) / 2], {
    draggable: true, keyboard: false, icon: L.divIcon({ className: "vx mid", iconSize: [10, 10] })
  });
  m.edge = [a.slice(), b.slice()];
  m.on("dragstart", function () { m.vertexKey = insertVertex(grid.props.kind, m.edge[0], m.edge[1], m.getLatLng()); });
  m.on("drag", function () { moveVertex(m, m.getLatLng()); });
  m.on("dragend", function () { showHandles(); renderEditing(); });
  m.addTo(handles);
}
/* Take the vertex out of every ring (of grids of its kind) that has it, unless a ring would keep
   fewer than three vertices. */
function removeVertex(k) {
  var kind = k.split("|")[0], rings = [];
  S.grids.forEach(function (grid) {
    if (grid.props.kind !== kind) { return; }
    grid.polys.forEach(function (poly) {
      poly.forEach(function (ring, r) {
        if (ring.some(function (c) { return kind + "|" + key(c[0], c[1]) === k; })) { rings.push([grid, poly, r]); }
      });
    });
  });
  var kept = rings.map(function (x) {
    return x[1][x[2]].slice(0, -1).filter(function (c) { return kind + "|" + key(c[0], c[1]) !== k; });
  });
  if (kept.some(function (open) { return open.length < 3; })) {
    message("不能删除：会少于三个顶点 a ring would keep fewer than three vertices", true);
    return;
  }
  rings.forEach(function (x, n) {
    x[1][x[2]] = kept[n].concat([kept[n][0].slice()]);
    S.dirty.add(x[0].code);
    x[0].layer.setLatLngs(latLngs(x[0].polys));
    x[0].layer.setStyle(styleOf(x[0]));
  });
  indexVertices();
  showHandles();
  renderEditing();
  S.preview = null;
  $("publish").disabled = true;
}

/* Put a new vertex between a and b in every ring (of grids of this kind) where they follow each
   other, either way round; return its key. */
function insertVertex(kind, a, b, latlng) {
  var c = [latlng.lng, latlng.lat], ka = key(a[0], a[1]), kb = key(b[0], b[1]);
  S.grids.forEach(function (grid) {
    if (grid.props.kind !== kind) { return; }
    grid.polys.forEach(function (rings) {
      rings.forEach(function (ring) {
        for (var i = 0; i + 1 < ring.length; i++) {
          var k0 = key(ring[i][0], ring[i][1]), k1 = key(ring[i + 1][0], ring[i + 1][1]);
          if ((k0 === ka && k1 === kb) || (k0 === kb && k1 === ka)) {
            ring.splice(i + 1, 0, c.slice());
            S.dirty.add(grid.code);
            grid.layer.setLatLngs(latLngs(grid.polys));
            grid.layer.setStyle(styleOf(grid));
            i += 1;
          }
        }
      });
    });
  });
  indexVertices();
  return kind + "|" + key(c[0], c[1]);
}
/* The middles of the selected grid's edges, and how many grids have each edge (for tests). */
function midpoints() {
  var grid = S.grids.get(S.selected), out = [];
  handles.eachLayer(function (m) {
    if (!m.edge) { return; }
    var ka = grid.props.kind + "|" + key(m.edge[0][0], m.edge[0][1]), kb = grid.props.kind + "|" + key(m.edge[1][0], m.edge[1][1]);
    var both = Array.from(sharers(ka)).filter(function (code) { return sharers(kb).has(code); });
    var ll = m.getLatLng();
    out.push({ lon: ll.lng, lat: ll.lat, a: m.edge[0], b: m.edge[1], grids: both });
  });
  return out;
}
function moveVertex(marker, latlng) {
  var refs = S.vertices.get(marker.vertexKey);
  if (!refs) { return; }
  var kind = marker.vertexKey.split("|")[0], lon = latlng.lng, lat = latlng.lat;
  var k = kind + "|" + key(lon, lat);
  var touched = new Set();
  refs.forEach(function (ref) {
    var grid = S.grids.get(ref[0]);
    grid.polys[ref[1]][ref[2]][ref[3]] = [lon, lat];
    touched.add(grid);
  });
  S.vertices.delete(marker.vertexKey);
  S.vertices.set(k, (S.vertices.get(k) || []).concat(refs));
  marker.vertexKey = k;
  touched.forEach(function (grid) {
    grid.layer.setLatLngs(latLngs(grid.polys));
    S.dirty.add(grid.code);
    grid.layer.setStyle(styleOf(grid));
  });
  S.preview = null;
  $("publish").disabled = true;
}
/* Where (container pixels) the handle at this vertex is, for tests and keyboards alike. */
function handleAt(lon, lat) {
  var p = map.latLngToContainerPoint([lat, lon]), r = el.getBoundingClientRect();
  return { x: r.left + p.x, y: r.top + p.y };
}
function renderEditing() {
  var grid = S.grids.get(S.selected);
  $("selected").innerHTML = grid ? "<b>" + esc(grid.code) + "</b> " + esc(grid.props.name) + " · " +
    esc(grid.props.village_name) + (grid.props.leader ? " · 网格长 " + esc(grid.props.leader) : "") : "未选择网格 no grid selected";
  $("dirty-count").textContent = S.dirty.size ? "(" + S.dirty.size + ")" : "";
  $("save").disabled = $("discard").disabled = !S.dirty.size;
  body.dataset.dirty = String(S.dirty.size);
}

/* ---- save, discard ---- */
$("save").addEventListener("click", function () {
  var codes = Array.from(S.dirty), id = S.current.id;
  $("save").disabled = true;
  message("保存中 saving " + codes.length + "…");
  codes.reduce(function (chain, code) {
    return chain.then(function () {
      var grid = S.grids.get(code);
      // made on the version loaded: a 412 when someone redrew this grid since (the answer says who)
      var headers = grid.props.version ? { "If-Match": '"' + grid.props.version + '"' } : undefined;
      return request("PUT", "/api/generations/" + id + "/grids/" + code + "/boundary/",
                        { geometry: { type: "MultiPolygon", coordinates: grid.polys } }, headers).then(function (saved) {
        S.dirty.delete(code);
        grid.props.version = saved.properties.version;
        grid.layer.setStyle(styleOf(grid));
      }, function (err) {
        if (err.status === 412) { body.dataset.stale = code; }
        throw err;
      });
    });
  }, Promise.resolve()).then(function () {
    message("已保存 saved " + codes.length + " 网格 grids");
    renderEditing();
    body.dataset.saved = String(Number(body.dataset.saved || 0) + 1);
  }).catch(function (err) {
    message(err.message, true);
    renderEditing();
  });
});
$("discard").addEventListener("click", function () { open(S.current); });

/* ---- preview, publish ---- */
$("preview").addEventListener("click", function () {
  if (S.dirty.size) { message("先保存 save the changes first", true); return; }
  $("preview-result").textContent = "…";
  getJSON("/api/generations/" + S.current.id + "/preview/").then(function (p) {
    S.preview = p;
    var list = function (items, fmt) {
      return items.length ? "<ul>" + items.slice(0, 20).map(function (x) { return "<li>" + fmt(x) + "</li>"; }).join("") +
        (items.length > 20 ? "<li>… " + esc(items.length - 20) + "</li>" : "") + "</ul>" : '<p class="muted">无 none</p>';
    };
    var move = function (x) { return esc((x.from_grid || "–") + " → " + (x.to_grid || "–")); };
    $("preview-result").innerHTML =
      (p.valid ? '<p class="ok" data-valid="true">分区有效 the grids partition every village</p>'
               : '<p class="bad" data-valid="false">分区无效 not a partition: cannot be published</p>' +
                 list(p.problems, esc)) +
      "<h4>改动的网格 changed grids (" + esc(p.changed_grids.length) + ")</h4>" +
      list(p.changed_grids, function (c) {
        return esc(c.code + " " + c.change + (c.area_m2 === null ? "" : " " + c.area_m2 + " m²"));
      }) +
      "<h4>换网格的在办事件 open incidents in another grid (" + esc(p.incidents_moved) + ")</h4>" +
      list(p.incidents, function (x) { return esc("INC-" + String(x.id).padStart(7, "0")) + " " + move(x); }) +
      "<h4>换网格的摄像头 cameras in another grid (" + esc(p.cameras.length) + ")</h4>" +
      list(p.cameras, function (x) { return esc(x.code) + " " + move(x); }) +
      "<h4>无团队的网格 grids without a team (" + esc(p.grids_without_team.length) + ")</h4>" + list(p.grids_without_team, esc);
    $("publish").disabled = !p.valid;
    body.dataset.preview = p.valid ? "valid" : "invalid";
  }).catch(function (err) { $("preview-result").textContent = ""; message(err.message, true); });
});
$("publish").addEventListener("click", function () {
  if (!window.confirm("发布草稿 #" + S.current.id + "？ Publish this draft as the active generation?")) { return; }
  postJSON("/api/generations/" + S.current.id + "/publish/").then(function (g) {
    message("已发布 published: #" + g.id + " is now active");
    return loadGenerations(g.id);
  }).catch(function (err) {
    var problems = err.data && err.data.problems ? ": " + err.data.problems.join("; ") : "";
    message(err.message + problems, true);
  });
});

loadGenerations().catch(function (err) { body.dataset.planner = "error"; message(err.message, true); });
