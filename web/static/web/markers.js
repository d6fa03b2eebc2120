/* The incidents of the store as markers on a map: one per incident, in the layer the page wants it
   in (clustered, or a plain layer such as the triage queue's), redrawn when its symbol changes. */
import { esc, isOverdue } from "web/helpers.js";
import { symbolSvg } from "web/symbols.js";

export function latLngOf(feature) {
  const g = feature.geometry;
  return g && g.type === "Point" ? L.latLng(g.coordinates[1], g.coordinates[0]) : null;
}

function incidentIcon(feature) {
  const p = feature.properties;
  return L.divIcon({
    className: "inc-icon" + (isOverdue(p) ? " overdue" : ""),
    html: '<span data-incident-id="' + esc(feature.id) + '" data-state="' + esc(p.state) + '">' + symbolSvg(p) + "</span>",
    iconSize: [28, 28], iconAnchor: [14, 14], tooltipAnchor: [12, 0], popupAnchor: [0, -12]
  });
}

/* A cluster of incident markers: its count, with a red ring when one of them is overdue. */
export function clusterIcon(cluster) {
  const late = cluster.getAllChildMarkers().some(function (m) { return m.options.overdue; });
  const n = cluster.getChildCount();
  return L.divIcon({
    className: "inc-cluster" + (late ? " overdue" : ""), html: "<span>" + esc(n) + "</span>",
    iconSize: n < 100 ? [34, 34] : [42, 42]
  });
}

function iconKey(f) { const p = f.properties; return [p.state, p.category, p.triage, isOverdue(p)].join("|"); }

/* opts.layers: name -> layer, "incidents" a marker cluster group (iconCreateFunction: clusterIcon);
   opts.want(feature): the name of the layer an incident with a place belongs in now, or null;
   opts.tooltip(feature): the tooltip's HTML; opts.onClick(id, event).
   Returns {entries: id -> {marker, layer, key}, sync(id), syncAll(ids)}. */
export function incidentMarkers(store, opts) {
  const layers = opts.layers, entries = new Map();

  function wanted(f) { return f && latLngOf(f) ? opts.want(f) : null; }
  function newMarker(f) {
    const id = f.id;
    const m = L.marker(latLngOf(f), { icon: incidentIcon(f), keyboard: false, overdue: isOverdue(f.properties) });
    m.bindTooltip(function () { const now = store.items.get(id); return now ? opts.tooltip(now) : ""; }, { direction: "top" });
    m.on("click", function (e) { opts.onClick(id, e); });
    return m;
  }
  /* Put the incident's marker where it belongs now (or nowhere); `bulk` collects cluster changes. */
  function sync(id, bulk) {
    const f = store.items.get(id), entry = entries.get(id), want = wanted(f);
    if (entry && want && entry.layer === want && entry.marker.getLatLng().equals(latLngOf(f))) {
      const key = iconKey(f);
      if (entry.key !== key) {
        entry.key = key;
        entry.marker.options.overdue = isOverdue(f.properties);
        entry.marker.setIcon(incidentIcon(f));
        if (want === "incidents" && !bulk) { layers.incidents.refreshClusters(entry.marker); }
      }
      return;
    }
    if (entry) {
      if (bulk && entry.layer === "incidents") { bulk.remove.push(entry.marker); } else { layers[entry.layer].removeLayer(entry.marker); }
      entries.delete(id);
    }
    if (!want) { return; }
    const m = newMarker(f);
    entries.set(id, { marker: m, layer: want, key: iconKey(f) });
    if (bulk && want === "incidents") { bulk.add.push(m); } else { layers[want].addLayer(m); }
  }
  /* Sync these ids (a Set or an array), or every incident and marker. */
  function syncAll(only) {
    const bulk = { add: [], remove: [] };
    const ids = only ? new Set(only) : new Set(store.items.keys());
    if (!only) { entries.forEach(function (_, id) { ids.add(id); }); }
    ids.forEach(function (id) { sync(id, bulk); });
    if (bulk.remove.length > 1000) {  // e.g. a filter: rebuilding the clusters is faster than removing
      const keep = [];
      entries.forEach(function (entry) { if (entry.layer === "incidents") { keep.push(entry.marker); } });
      layers.incidents.clearLayers();
      layers.incidents.addLayers(keep);
    } else {
      layers.incidents.removeLayers(bulk.remove);
      layers.incidents.addLayers(bulk.add);
    }
    layers.incidents.refreshClusters();
  }
  return { entries: entries, sync: sync, syncAll: syncAll };
}
