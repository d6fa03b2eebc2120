/* The first map page: town, villages, grids and cameras from the platform's own API. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  var map = L.map(el, { preferCanvas: false, zoomSnap: 0.25 });
  var tileUrl = el.dataset.tileUrl;
  if (tileUrl) {
    L.tileLayer(tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map);
  }
  var centre = (el.dataset.center || "").split(",").map(Number);  // the town, until the layers are fitted
  map.setView(centre.length === 2 && isFinite(centre[0]) && isFinite(centre[1]) ? centre : [0, 0], centre.length === 2 ? 12 : 2);

  var ROLE = { grid_worker: "专职网格员", cadre: "机关干部", police: "民辅警", enforcement: "综合执法队员" };

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(url + " " + r.status); } return r.json(); });
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function teamHtml(team) {
    var rows = team.members.map(function (m) {
      return "<tr><td>" + esc(ROLE[m.role] || m.role) + " " + esc(m.slot) + "</td><td>" + esc(m.name) +
        "</td><td>" + (m.on_duty ? "在岗" : "不在岗") + "</td></tr>";
    }).join("");
    return "<div>网格长 leader: <b>" + esc(team.leader.name) + "</b></div><table>" + rows + "</table>";
  }

  function gridPopup(feature, layer) {
    var p = feature.properties;
    layer.bindPopup(function () {
      var div = document.createElement("div");
      div.className = "grid-popup";
      div.innerHTML = "<h4>" + esc(p.name) + "</h4><div>编码 code: <code class='grid-code'>" + esc(p.code) +
        "</code></div><div>村居 village: " + esc(p.village_name) + " (" + esc(p.village_code) + ")</div>" +
        (p.purpose ? "<div>用途 purpose: " + esc(p.purpose) + "</div>" : "") + "<div class='team'>…</div>";
      getJSON("/api/grids/" + p.code + "/team/").then(function (team) {
        div.querySelector(".team").innerHTML = teamHtml(team);
      }).catch(function () {
        div.querySelector(".team").textContent = p.leader ? "网格长 leader: " + p.leader + " (log in for the team)" : "";
      });
      return div;
    }, { maxWidth: 360 });
  }

  var layers = {
    town: L.geoJSON(null, { style: { color: "#17324d", weight: 3, fill: false } }),
    villages: L.geoJSON(null, {
      style: { color: "#5a3e9b", weight: 2, fillOpacity: 0.04 },
      onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, { sticky: true }); }
    }),
    comprehensive: L.geoJSON(null, {
      style: { color: "#2b7bb9", weight: 1, fillColor: "#9cc9ea", fillOpacity: 0.25 },
      onEachFeature: gridPopup
    }),
    dedicated: L.geoJSON(null, {
      style: { color: "#d9480f", weight: 2, dashArray: "4 3", fillColor: "#ffa94d", fillOpacity: 0.35 },
      onEachFeature: gridPopup
    }),
    cameras: L.layerGroup()
  };

  function addCameras(fc) {
    fc.features.forEach(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var colour = p.status === "online" ? "#2f9e44" : "#868e96";
      if (p.sector) {
        L.geoJSON(p.sector, { style: { color: colour, weight: 1, fillOpacity: 0.2 }, interactive: false })
          .addTo(layers.cameras);
      }
      L.circleMarker([c[1], c[0]], { radius: 5, color: "#fff", weight: 1, fillColor: colour, fillOpacity: 1 })
        .bindTooltip(p.code + " " + p.name + " (" + p.status + ")").addTo(layers.cameras);
    });
  }

  /* Camera coverage (online cameras' view sectors) per comprehensive grid, loaded when first shown. */
  var SHARES = [[0.2, "#1864ab"], [0.05, "#339af0"], [0.01, "#74c0fc"], [0, "#d0ebff"]];
  function shareColour(share) {
    for (var i = 0; i < SHARES.length; i++) { if (share > SHARES[i][0]) { return SHARES[i][1]; } }
    return "#f1f3f5";
  }
  function percent(share) { return (100 * share).toFixed(share < 0.01 ? 2 : 1) + "%"; }
  var coverage = L.geoJSON(null, {
    style: function (f) {
      return { color: "#495057", weight: 1, fillColor: shareColour(f.properties.share), fillOpacity: 0.7 };
    },
    onEachFeature: function (f, l) {
      var p = f.properties;
      l.bindTooltip(esc(p.name) + " · 覆盖 " + percent(p.share) + " of " + (p.area_m2 / 1e6).toFixed(2) + " km²" +
                    (p.cameras.length ? "<br>" + esc(p.cameras.join(", ")) : ""), { sticky: true });
    }
  });
  var coverageLegend = L.control({ position: "bottomright" });
  coverageLegend.onAdd = function () {
    var div = L.DomUtil.create("div", "coverage-legend");
    div.innerHTML = "…";
    return div;
  };
  var coverageLoad = null;
  map.on("overlayadd", function (e) {
    if (e.layer !== coverage) { return; }
    coverageLegend.addTo(map);
    coverageLoad = coverageLoad || getJSON("/api/cameras/coverage/?kind=comprehensive").then(function (fc) {
      coverage.addData(fc);
      var t = fc.totals;
      coverageLegend.getContainer().innerHTML = "<b>摄像头覆盖 camera coverage</b> (online)<br>" + percent(t.share) +
        " of " + (t.area_m2 / 1e6).toFixed(1) + " km², " + t.grids + " grids<br>" +
        SHARES.map(function (s) { return '<i style="background:' + s[1] + '"></i>&gt; ' + percent(s[0]); }).join("<br>");
      el.dataset.coverage = "loaded";
    }).catch(function (err) { el.dataset.coverage = "error"; console.error(err); });
  });
  map.on("overlayremove", function (e) { if (e.layer === coverage) { coverageLegend.remove(); } });

  var loads = [
    getJSON("/api/towns/").then(function (fc) { layers.town.addData(fc); }),
    getJSON("/api/villages/").then(function (fc) { layers.villages.addData(fc); }),
    getJSON("/api/grids/?kind=comprehensive").then(function (fc) { layers.comprehensive.addData(fc); }),
    getJSON("/api/grids/?kind=dedicated").then(function (fc) { layers.dedicated.addData(fc); }),
    getJSON("/api/cameras/").then(addCameras)
  ];
  Object.keys(layers).forEach(function (k) { layers[k].addTo(map); });

  L.control.layers(null, {
    "镇 town": layers.town,
    "村居 villages": layers.villages,
    "综合网格 comprehensive grids": layers.comprehensive,
    "专属网格 dedicated grids": layers.dedicated,
    "摄像头 cameras": layers.cameras,
    "摄像头覆盖 camera coverage": coverage
  }, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  Promise.all(loads).then(function () {
    var b = layers.villages.getBounds();
    if (b.isValid()) { map.fitBounds(b, { animate: false }); }
    el.dataset.loaded = "true";
  }).catch(function (err) { el.dataset.loaded = "error"; console.error(err); });
}());
