/* The registry of open incidents (id -> GeoJSON feature), fed by the initial load (keyset pages) or the
   map's view, the live socket, the catch-up and action responses. A page that holds only part of the
   incidents (the command centre: those in the map's view) sets `accept(feature)`: an incident it does not
   accept is not added, and leaves the registry when a change takes it out. */
import { MAX_PAGE, OPEN_STATES, fetchFeatures, isOpen } from "web/helpers.js";

/* Listeners get (kind, feature, previous, via); kind is "added", "updated" or "removed", via is
   "initial", "view", "live", "catchup" or "action". */
export class IncidentStore {
  constructor() {
    this.items = new Map();
    this.cursor = null;  // X-Changes-Cursor of the newest load or catch-up (null: none yet)
    this.loading = null;  // the initial load, while and after it runs
    this.listeners = [];
    this.removedAt = new Map();  // id -> updated_at (ms) of the change that closed it
    this.accept = null;  // feature -> whether the page holds it (null: every open incident)
  }

  on(fn) { this.listeners.push(fn); }

  /* Take the cursor of a newer read (loads and catch-ups run one after the other). */
  advance(cursor) {
    if (cursor) { this.cursor = cursor; }
  }

  apply(feature, via) {
    if (!feature || feature.id == null || !feature.properties) { return "ignored"; }
    const p = feature.properties, old = this.items.get(feature.id);
    if (old) {
      const before = Date.parse(old.properties.updated_at), now = Date.parse(p.updated_at);
      if (now < before) { return "stale"; }
      if (now === before && old.properties.state === p.state && via === "catchup") { return "unchanged"; }
    } else if (this.removedAt.has(feature.id) && Date.parse(p.updated_at) <= this.removedAt.get(feature.id)) {
      return "stale";  // an older copy of an incident already closed (a late catch-up answer)
    }
    let kind;
    const open = isOpen(p);
    if (!open || (this.accept && !this.accept(feature))) {
      if (!old) { return "ignored"; }
      this.items.delete(feature.id);
      if (!open) { this.removedAt.set(feature.id, Date.parse(p.updated_at)); }
      kind = "removed";
    } else {
      this.items.set(feature.id, feature);
      kind = old ? "updated" : "added";
    }
    this.listeners.forEach(function (fn) { fn(kind, feature, old, via); });
    return kind;
  }
}

/* Hold exactly these features (the map's new view) and the one of `keepId` (the selected incident) if
   held: the others leave the registry ("removed"). */
IncidentStore.prototype.replaceAll = function (features, via, keepId) {
  const keep = new Set(features.map(function (f) { return f.id; }));
  if (keepId != null) { keep.add(keepId); }
  const self = this;
  Array.from(this.items.values()).forEach(function (f) {
    if (keep.has(f.id)) { return; }
    self.items.delete(f.id);
    self.listeners.forEach(function (fn) { fn("removed", f, f, via); });
  });
  features.forEach(function (f) { self.apply(f, via); });
};

/* Load a team's open incidents into the store, the most urgent first (the API's order=due: the overdue,
   longest overdue first, then the soonest deadline), `size` of them (window.GRIDOPS_PAGE_SIZE, else 200):
   a phone never holds a town's open incidents at once. Resolves with {count, more}: how many there are
   (the API's count, capped) and more(), which loads `size` more, or null when all are loaded. "More"
   asks again from the top with a larger page (not for page 2: an incident closing meanwhile would shift
   one past it). The catch-up cursor is the first load's: whatever changes after it is caught up. */
export function loadUrgent(store, size) {
  size = size || window.GRIDOPS_PAGE_SIZE || 200;
  const base = "/api/incidents/?" + OPEN_STATES.map(function (s) { return "state=" + s; }).join("&") + "&order=due";
  function load(limit) {
    let count = 0;
    const loading = fetchFeatures(base + "&page_size=" + limit, function (features, n) { count = n; },
      function () { return null; }).then(function (features) {
      features.forEach(function (f) { store.apply(f, "initial"); });
      if (store.cursor === null) { store.advance(features.cursor); }
      const all = features.length < limit || limit >= MAX_PAGE;
      return { count: count, more: all ? null : function () { return load(Math.min(limit + size, MAX_PAGE)); } };
    });
    if (store.loading === null) { store.loading = loading; }
    return loading;
  }
  return load(size);
}
