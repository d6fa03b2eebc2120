/* The boundaries map: town, villages, grids and cameras from the platform's own API, and the camera
   coverage per grid when asked for. */
import { esc, getJSON } from "web/helpers.js";
import { boundaryLayers, boundaryOverlays, pageMap } from "web/layers.js";

const el = document.getElementById("map");
const map = pageMap(el);
const boundaries = boundaryLayers(map), layers = boundaries.layers;
window.gridops = { map: map, layers: layers };

/* Camera coverage (online cameras' view sectors) per comprehensive grid, loaded when first shown. */
const SHARES = [[0.2, "#1864ab"], [0.05, "#339af0"], [0.01, "#74c0fc"], [0, "#d0ebff"]];
function shareColour(share) {
  for (let i = 0; i < SHARES.length; i++) { if (share > SHARES[i][0]) { return SHARES[i][1]; } }
  return "#f1f3f5";
}
/* A coverage share as a percentage: two decimals below 1 %, where the grids' small shares are. */
function sharePercent(share) { return (100 * share).toFixed(share < 0.01 ? 2 : 1) + "%"; }
const coverage = L.geoJSON(null, {
  style: function (f) {
    return { color: "#495057", weight: 1, fillColor: shareColour(f.properties.share), fillOpacity: 0.7 };
  },
  onEachFeature: function (f, l) {
    const p = f.properties;
    l.bindTooltip(esc(p.name) + " · 覆盖 " + sharePercent(p.share) + " of " + (p.area_m2 / 1e6).toFixed(2) + " km²" +
                  (p.cameras.length ? "<br>" + esc(p.cameras.join(", ")) : ""), { sticky: true });
  }
});
const coverageLegend = L.control({ position: "bottomright" });
coverageLegend.onAdd = function () {
  const div = L.DomUtil.create("div", "coverage-legend");
  div.innerHTML = "…";
  return div;
};
let coverageLoad = null;
map.on("overlayadd", function (e) {
  if (e.layer !== coverage) { return; }
  coverageLegend.addTo(map);
  coverageLoad = coverageLoad || getJSON("/api/cameras/coverage/?kind=comprehensive").then(function (fc) {
    coverage.addData(fc);
    const t = fc.totals;
    coverageLegend.getContainer().innerHTML = "<b>摄像头覆盖 camera coverage</b> (online)<br>" + sharePercent(t.share) +
      " of " + (t.area_m2 / 1e6).toFixed(1) + " km², " + esc(t.grids) + " grids<br>" +
      SHARES.map(function (s) { return '<i data-colour="' + esc(s[1]) + '"></i>&gt; ' + esc(sharePercent(s[0])); }).join("<br>");
    // the swatches' colours through the CSSOM: the Content Security Policy refuses style attributes in markup
    coverageLegend.getContainer().querySelectorAll("i[data-colour]").forEach(function (i) {
      i.style.background = i.dataset.colour;
    });
    el.dataset.coverage = "loaded";
  }).catch(function (err) { el.dataset.coverage = "error"; console.error(err); });
});
map.on("overlayremove", function (e) { if (e.layer === coverage) { coverageLegend.remove(); } });

const loaded = boundaries.load();
Object.keys(layers).forEach(function (k) { layers[k].addTo(map); });
L.control.layers(null, Object.assign(boundaryOverlays(layers), { "摄像头覆盖 camera coverage": coverage }),
                 { collapsed: false }).addTo(map);
L.control.scale({ imperial: false }).addTo(map);

loaded.then(function () {
  const b = layers.villages.getBounds();
  if (b.isValid()) { map.fitBounds(b, { animate: false }); }
  el.dataset.loaded = "true";
}).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });
