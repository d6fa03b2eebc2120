{% load static %}/* The grid worker's phone, offline (web/offline.js registers it; scope {{ scope }}). Workbox (MIT), served by
   this app: the page and its files are kept at install; the API's answers are read from the network and
   kept, and read from what was kept when there is no network; nothing is loaded from elsewhere.
   Changes (POST) are never answered from here: web/offline.js queues those. */
importScripts("{% static 'vendor/workbox/workbox-sw.js' %}");
const MODULES = {{ modules|safe }};
workbox.setConfig({ debug: false, modulePathCb: function (name) { return MODULES[name]; } });
workbox.loadModule("workbox-core");
workbox.loadModule("workbox-routing");
workbox.loadModule("workbox-strategies");
workbox.loadModule("workbox-expiration");

const VERSION = "{{ version }}";
const SHELL = "gridops-shell-" + VERSION;
const SHELL_URLS = {{ shell|safe }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_URLS); }).then(function () {
    return self.skipWaiting();
  }));
});
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.startsWith("gridops-shell-") && k !== SHELL; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

const strategies = workbox.strategies;
workbox.routing.registerRoute(function (o) { return o.request.mode === "navigate" && o.url.pathname.startsWith("{{ scope }}"); },
  new strategies.NetworkFirst({ cacheName: SHELL, networkTimeoutSeconds: 5 }));
workbox.routing.registerRoute(function (o) { return o.url.origin === self.location.origin && o.url.pathname.startsWith("{{ static_prefix }}"); },
  new strategies.StaleWhileRevalidate({ cacheName: SHELL }));
workbox.routing.registerRoute(function (o) {
  return o.url.origin === self.location.origin && o.url.pathname.startsWith("/api/") && o.request.method === "GET";
}, new strategies.NetworkFirst({
  cacheName: "gridops-api", networkTimeoutSeconds: 5,
  plugins: [new workbox.expiration.ExpirationPlugin({ maxEntries: {{ api_entries }}, maxAgeSeconds: {{ api_max_age }} })]
}));
