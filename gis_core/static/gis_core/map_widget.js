/* Start the admin's map widgets (Django's MapWidget, gis/js/OLMapWidget.js) from the options in the JSON
   data block beside each (gis_core/openlayers_local.html). Django's own template starts them in an
   inline script, which the Content Security Policy refuses. No base map unless MAP_TILE_URL is set. */
/* global ol, MapWidget */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".dj_map_wrapper[data-options]").forEach(function (wrapper) {
    const options = JSON.parse(document.getElementById(wrapper.dataset.options).textContent);
    options.base_layer = options.tile_url
      ? new ol.layer.Tile({ source: new ol.source.XYZ({ url: options.tile_url }) })
      : new ol.layer.Vector({ source: new ol.source.Vector() });
    const module = options.module;
    delete options.tile_url;
    delete options.module;
    window[module] = new MapWidget(options);
  });
});
