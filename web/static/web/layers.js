/* The pages' map (Leaflet, the global L of the vendor script): the optional base tiles, the first view,
   and the town's boundaries and cameras from the platform's own API. */
import { esc, getJSON, teamHtml } from "web/helpers.js";

/* The page's map on `el`: the optional base tiles (data-tile-url, data-tile-attribution), and a first
   view on the town (the element's data-center, "lat,lon", from the server) until the page fits its layers. */
export function pageMap(el, maxZoom) {
  const map = L.map(el, { zoomSnap: 0.25, maxZoom: maxZoom || 19 });
  if (el.dataset.tileUrl) { L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map); }
  const c = (el.dataset.center || "").split(",").map(Number);
  if (c.length === 2 && isFinite(c[0]) && isFinite(c[1])) { map.setView(c, 12); } else { map.setView([0, 0], 2); }
  return map;
}

/* The ring around the selected incident. */
export function selectionRing() {
  return L.circleMarker([0, 0], { radius: 18, color: "#e8590c", weight: 3, fill: false, interactive: false, className: "selected-ring" });
}

/* The smallest zoom at which a layer is asked for (wider views of a city hold thousands of grids: the
   layer then waits, with a hint, until the user zooms in). A whole town fits at these zooms. */
export const VIEW_ZOOM = { villages: 9, grids: 11, cameras: 11, components: 15 };
// Features of one layer a view may hold (the API's page; lowered by tests through window.GRIDOPS_BOUNDARY_PAGE).
const BOUNDARY_PAGE = window.GRIDOPS_BOUNDARY_PAGE || 500;

/* Keep one boundary layer to the map's view: from `minZoom`, the features of `url` in the view (with
   a margin, so a small pan asks nothing), at most one page of them (the API's page size); `show(fc)`
   replaces the layer's data. Below `minZoom`, or when the view holds more than a page (the answer has
   a `next`), show gets an empty collection and the map's hint asks to zoom in. Answers that arrive
   after a newer view's request are dropped. Returns {ready, refresh()}: ready resolves with the first
   view's collection. */
export function boundaryView(map, url, minZoom, show) {
  const empty = { type: "FeatureCollection", features: [] };
  let covered = null, serial = 0, tooMany = false;
  function refresh() {
    const view = map.getBounds();
    if (map.getZoom() < minZoom) { covered = null; tooMany = false; show(empty); zoomHint(map); return Promise.resolve(empty); }
    if (covered && covered.contains(view)) { return Promise.resolve(null); }
    const box = view.pad(0.25), mine = ++serial;
    const sep = url.indexOf("?") >= 0 ? "&" : "?";
    return getJSON(url + sep + "page_size=" + BOUNDARY_PAGE + "&in_bbox=" + box.toBBoxString()).then(function (fc) {
      if (mine !== serial) { return null; }
      tooMany = Boolean(fc.next);
      covered = tooMany ? null : box;
      show(tooMany ? empty : fc);
      zoomHint(map);
      return tooMany ? empty : fc;
    });
  }
  const entry = { tooMany: function () { return map.getZoom() < minZoom || tooMany; } };
  (map._boundaryViews = map._boundaryViews || []).push(entry);
  let timer = null;
  map.on("moveend", function () { clearTimeout(timer); timer = setTimeout(refresh, 150); });
  return { ready: refresh(), refresh: refresh };
}

/* "Zoom in to see the boundaries" while some boundary layer waits for a closer view. */
function zoomHint(map) {
  if (!map._zoomHint) {
    map._zoomHint = L.control({ position: "bottomleft" });
    map._zoomHint.onAdd = function () {
      const div = L.DomUtil.create("div", "leaflet-bar boundary-hint");
      div.textContent = "放大查看网格边界 zoom in to see the grids";
      // styled through the CSSOM (the Content Security Policy refuses style attributes), in one place for every page
      Object.assign(div.style, { background: "#e7f5ff", padding: "4px 8px", fontSize: "12px" });
      return div;
    };
  }
  const waiting = (map._boundaryViews || []).some(function (v) { return v.tooMany(); });
  if (waiting && !map._zoomHint._map) { map._zoomHint.addTo(map); }
  if (!waiting && map._zoomHint._map) { map._zoomHint.remove(); }
}

/* The town, its villages, comprehensive and dedicated grids and the cameras with their view sectors, as
   layers of `map` (not added: the page adds what it shows). A click on a grid opens its code, village and
   team, unless opts.ignoreClick() says the page is busy with the click (placing an incident).
   Returns {layers, load(), highlightCameras(codes)}; load() fetches the towns and what the view shows of
   the rest, then follows the view, and resolves with the first view's villages (a FeatureCollection). */
export function boundaryLayers(map, opts) {
  opts = opts || {};
  const sectors = new Map();  // camera code -> its view sector's layer
  const layers = {
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
    cameras: L.layerGroup()
  };

  function gridClick(feature, layer) {
    const p = feature.properties;
    layer.bindTooltip(esc(p.code.slice(-3) + " " + (p.name || "")), { sticky: true, className: "grid-tip" });
    layer.on("click", function (e) {
      if (opts.ignoreClick && opts.ignoreClick()) { return; }
      const div = document.createElement("div");
      div.className = "grid-popup";
      div.innerHTML = "<h4>" + esc(p.name) + "</h4><div>编码 code: <code class='grid-code'>" + esc(p.code) +
        "</code></div>" + (p.code20 ? "<div>CJ/T 349 编码: <code class='grid-code20'>" + esc(p.code20) + "</code></div>" : "") +
        "<div>村居 village: " + esc(p.village_name) + " (" + esc(p.village_code) + ")</div>" +
        (p.purpose ? "<div>用途 purpose: " + esc(p.purpose) + "</div>" : "") + "<div class='team'>…</div>";
      L.popup({ maxWidth: 380 }).setLatLng(e.latlng).setContent(div).openOn(map);
      getJSON("/api/grids/" + encodeURIComponent(p.code) + "/team/").then(function (team) {
        div.querySelector(".team").innerHTML = teamHtml(team, null);
      }).catch(function () {
        div.querySelector(".team").textContent = p.leader ? "网格长 leader: " + p.leader + " (log in for the team)" : "";
      });
    });
  }

  function addCameras(fc) {
    fc.features.forEach(function (f) {
      const p = f.properties, c = f.geometry.coordinates;
      const colour = p.status === "online" ? "#2f9e44" : "#868e96";
      if (p.sector) {
        const sector = L.geoJSON(p.sector, {
          style: { color: colour, weight: 1, fillOpacity: 0.18, className: "camera-sector" }, interactive: false
        }).addTo(layers.cameras);
        sector.baseColour = colour;
        sectors.set(p.code, sector);
      }
      L.circleMarker([c[1], c[0]], { radius: 5, color: "#fff", weight: 1, fillColor: colour, fillOpacity: 1 })
        .bindTooltip(esc(p.code + " " + p.name + " (" + p.status + ")")).addTo(layers.cameras);
    });
  }

  /* The towns once (a city has a few hundred at most); the rest for the view (boundaryView below). */
  function load() {
    const towns = getJSON("/api/towns/").then(function (fc) { layers.town.addData(fc); });
    const inView = [
      boundaryView(map, "/api/villages/", VIEW_ZOOM.villages, function (fc) {
        layers.villages.clearLayers(); layers.villages.addData(fc);
      }),
      boundaryView(map, "/api/grids/?kind=comprehensive", VIEW_ZOOM.grids, function (fc) {
        layers.comprehensive.clearLayers(); layers.comprehensive.addData(fc);
      }),
      boundaryView(map, "/api/grids/?kind=dedicated", VIEW_ZOOM.grids, function (fc) {
        layers.dedicated.clearLayers(); layers.dedicated.addData(fc);
      }),
      boundaryView(map, "/api/cameras/", VIEW_ZOOM.cameras, function (fc) {
        layers.cameras.clearLayers(); sectors.clear(); addCameras(fc);
      })
    ];
    return Promise.all([towns].concat(inView.map(function (v) { return v.ready; }))).then(function (all) {
      return all[1];  // the villages of the first view
    });
  }

  /* Mark the view sectors of these cameras (those covering the selected incident). */
  function highlightCameras(codes) {
    sectors.forEach(function (sector, code) {
      const on = codes.indexOf(code) >= 0;
      sector.setStyle({ color: on ? "#e8590c" : sector.baseColour, weight: on ? 3 : 1, fillOpacity: on ? 0.35 : 0.18 });
    });
  }

  return { layers: layers, load: load, highlightCameras: highlightCameras };
}

/* The layer switcher's entries of the boundary layers. */
export function boundaryOverlays(layers) {
  return {
    "镇 town": layers.town, "村居 villages": layers.villages, "综合网格 comprehensive grids": layers.comprehensive,
    "专属网格 dedicated grids": layers.dedicated, "摄像头 cameras": layers.cameras
  };
}

/* City components (部件: manhole covers, lamps, bins ...) as a layer of `map` (not added), kept to the view
   from VIEW_ZOOM.components like the boundary layers (at most a page; more asks to zoom in). A marker's
   colour is its state. Returns {layer, load()}. */
const COMPONENT_COLOURS = { intact: "#2f9e44", damaged: "#e8590c", missing: "#c92a2a", occupied: "#7048e8" };

export function componentLayer(map) {
  const layer = L.layerGroup();
  function show(fc) {
    layer.clearLayers();
    fc.features.forEach(function (f) {
      const p = f.properties, c = f.geometry.coordinates;
      L.circleMarker([c[1], c[0]], { radius: 4, color: "#fff", weight: 1, fillColor: COMPONENT_COLOURS[p.state] || "#868e96",
        fillOpacity: 1, className: "component" })
        .bindTooltip(esc(p.type_name + " " + p.code) + "<br>" + esc(p.state_label) + (p.owner_dept ? " · " + esc(p.owner_dept) : ""))
        .addTo(layer);
    });
  }
  return { layer: layer, load: function () { return boundaryView(map, "/api/components/", VIEW_ZOOM.components, show).ready; } };
}
