/* The command centre's incident panel (#detail): the selected incident's facts, the actions the server
   allows now, its team, the cameras that see it (marked on the map), its timeline; and placing an
   incident on the map (relocate) by a click. */
import {
  LEVEL, OPEN_STATES, ROLE, SOURCE, TRIAGE, debounce, errorLine, esc, fmtDue, fmtTime, getJSON, isOverdue, postJSON, request, stateBadge,
  teamHtml, timelineHtml
} from "web/helpers.js";
import { actionButtonsHtml, openActionForm, performAction } from "web/actions.js";
import { latLngOf } from "web/markers.js";
import { selectionRing } from "web/layers.js";
import { symbolSvg } from "web/symbols.js";
import { loadPhotos, photosHtml, wirePhotoViewer } from "web/photos.js";

/* opts: map, store, markers (incidentMarkers), clusters (the cluster group of incidents),
   highlightCameras(codes), onSelect() (the selection changed), onFetched(feature) (the selected incident,
   read from the server because the page did not hold it), detailZoom (the zoom to go to such an incident).
   Returns {select(id, {pan}), selected(), placing(), placeAt(latlng)}. */
export function incidentPanel(opts) {
  const map = opts.map, store = opts.store;
  const S = { selected: null, feature: null, events: null, deliveries: null, ctx: null, photos: null, error: "", form: null,
    placing: null, viewers: [] };
  /* Who else has the incident open (incidents/viewers.py): said while it is open here, forgotten when closed. */
  let viewing = { id: null, timer: null };
  function watch(id) {
    if (viewing.id === id) { return; }
    if (viewing.id != null) {
      clearInterval(viewing.timer);
      request("DELETE", "/api/incidents/" + viewing.id + "/viewing/", {}).catch(function () { /* gone anyway in 45 s */ });
    }
    S.viewers = [];
    viewing = { id: id, timer: null };
    if (id == null) { return; }
    const beat = function () {
      postJSON("/api/incidents/" + id + "/viewing/").then(function (r) {
        if (viewing.id !== id) { return; }
        S.viewers = r.others.map(function (o) { return o.user; });
        const el = detail.querySelector(".d-viewers");
        if (el) { el.textContent = viewersText(); el.hidden = !S.viewers.length; }
        if (!viewing.timer) { viewing.timer = setInterval(beat, r.heartbeat_s * 1000); }
      }).catch(function () { /* offline: try at the next beat */ });
    };
    beat();
  }
  function viewersText() { return S.viewers.length ? "也在查看 also open by: " + S.viewers.join(", ") : ""; }
  const detail = document.getElementById("detail"), mapEl = map.getContainer();
  const ring = selectionRing();
  let detailSeq = 0;

  function select(id, how) {
    S.selected = id;
    watch(id);
    S.feature = store.items.get(id) || (S.feature && S.feature.id === id ? S.feature : null);
    S.events = S.deliveries = S.ctx = S.photos = null;
    S.error = "";
    S.form = null;
    stopPlacing();
    render();
    load();
    opts.onSelect();
    const entry = opts.markers.entries.get(id), pan = how && how.pan;
    if (entry && pan) {
      if (entry.layer === "incidents" && map.hasLayer(opts.clusters)) {
        opts.clusters.zoomToShowLayer(entry.marker);
      } else {
        map.panTo(entry.marker.getLatLng());
      }
    }
    if (!S.feature) {
      getJSON("/api/incidents/" + id + "/").then(function (f) {
        if (S.selected !== id) { return; }
        S.feature = f;
        if (opts.onFetched) { opts.onFetched(f); }
        render();
        // not on the map (out of the view, or the view shows counts): go to it; the new view brings it
        const ll = latLngOf(f);
        if (pan && ll && !entry) { map.setView(ll, Math.max(map.getZoom(), opts.detailZoom || 17), { animate: false }); }
      }).catch(function (err) { S.error = err.message; });
    }
  }
  function load() {
    const id = S.selected, seq = ++detailSeq;
    // what the source system was told: the command centre's to see (a 403 for others: no deliveries shown)
    const deliveries = getJSON("/api/incidents/" + id + "/deliveries/").catch(function () { return []; });
    Promise.all([getJSON("/api/incidents/" + id + "/events/"), getJSON("/api/incidents/" + id + "/context/"), loadPhotos(id),
      deliveries])
      .then(function (r) {
        if (seq !== detailSeq) { return; }
        S.events = r[0];
        S.ctx = r[1];
        S.photos = r[2];
        S.deliveries = r[3];
        opts.highlightCameras(S.ctx.cameras.map(function (c) { return c.code; }));
        render();
      })
      .catch(function (err) { if (seq === detailSeq) { S.error = err.message; render(); } });
  }
  const reload = debounce(function () { if (S.selected != null) { load(); } }, 300);

  function info(label, value) { return value ? "<dt>" + esc(label) + "</dt><dd>" + esc(value) + "</dd>" : ""; }
  function render() {
    detail.hidden = S.selected == null;
    if (S.selected == null) { ring.remove(); return; }
    const f = S.feature;
    if (!f) { detail.innerHTML = '<p class="muted">…</p>'; return; }
    const p = f.properties, ll = latLngOf(f);
    if (ll) { ring.setLatLng(ll).addTo(map); } else { ring.remove(); }
    const formOpen = detail.querySelector(".action-form");
    if (formOpen && S.form) { renderInfoOnly(p); return; }
    detail.dataset.incidentId = f.id;
    detail.innerHTML = '<header class="d-head">' + symbolSvg(p, 26) + "<b>" + esc(p.reference) + "</b> " +
      stateBadge(p.state) + (isOverdue(p) ? ' <span class="badge late">超期 overdue</span>' : "") +
      '<button type="button" class="close" data-close title="关闭 close">×</button></header>' +
      '<p class="d-viewers" role="status"' + (S.viewers.length ? "" : " hidden") + ">" + esc(viewersText()) + "</p>" +
      '<h3 class="d-title">' + esc(p.title) + '</h3><dl class="d-info">' + infoHtml(p) + handbookHtml(p) + "</dl>" +
      '<div class="d-error" role="alert">' + esc(S.error) + "</div>" +
      '<div class="d-actions">' + actionsHtml() + "</div>" +
      "<h4>网格团队 team</h4><div class='d-team'>" + (S.ctx ? teamHtml(S.ctx.team, p.assignee) : "…") + "</div>" +
      "<h4>覆盖摄像头 cameras</h4><div class='d-cameras'>" + camerasHtml() + "</div>" + componentHtml() +
      "<h4>照片 photos</h4><div class='d-photos'>" + photosHtml(S.photos, f.id) + "</div>" +
      "<h4>时间线 timeline</h4><div class='d-timeline'>" + (S.events ? timelineHtml(S.events, S.deliveries) : "…") + "</div>";
  }
  /* The category's handbook where it matters: 立案条件 before registering, 结案条件 until closed. */
  function handbookHtml(p) {
    const h = S.ctx && S.ctx.handbook;
    if (!h) { return ""; }
    const answers = (S.ctx.answers || []).map(function (a) {
      return info(a.question, Array.isArray(a.value) ? a.value.join("、") : String(a.value));
    }).join("");
    return answers + (p.state === "reported" ? info("立案条件 filing", h.filing_conditions) : "") +
      (OPEN_STATES.indexOf(p.state) >= 0 && h.closing_conditions.length ?
        info("结案条件 to close", h.closing_conditions.join("；")) : "");
  }
  function infoHtml(p) {
    return info("类别 category", p.category_name) + info("来源 source", SOURCE[p.source] || p.source) +
      info("地址 address", p.address) + info("村居 village", p.village_name) +
      info("网格 grid", (p.grid_code || "") + (p.handling_grid_code && p.handling_grid_code !== p.grid_code ? " → " + p.handling_grid_code : "")) +
      info("层级 level", LEVEL[p.level]) + info("承办 assignee", p.assignee ? p.assignee.name + " " + (ROLE[p.assignee.role] || p.assignee.role) : "") +
      info("时限 due", fmtDue(p) ? fmtTime(p.state === "dispatched" ? p.accept_due_at : p.handle_due_at) + " · " + fmtDue(p) : "") +
      info("分拣 triage", p.triage ? (TRIAGE[p.triage] || p.triage) + (p.distance_m ? " · " + Math.round(p.distance_m) + " m" : "") : "") +
      info("边界 edge", p.near_edge ? "靠近网格边界 near a grid edge" : "") +
      info("疑似重复 duplicate of", p.possible_duplicate_of ? "INC-" + String(p.possible_duplicate_of).padStart(7, "0") : "") +
      info("上报 reported", fmtTime(p.created_at)) +
      info("报告人 reporter", S.ctx && S.ctx.reporter ? [S.ctx.reporter.name, S.ctx.reporter.phone].filter(Boolean).join(" ") : "");
  }
  function renderInfoOnly(p) {
    const dl = detail.querySelector(".d-info");
    if (dl) { dl.innerHTML = infoHtml(p); }
    const err = detail.querySelector(".d-error");
    if (err) { err.textContent = S.error; }
  }
  function camerasHtml() {
    if (!S.ctx) { return "…"; }
    if (!S.ctx.cameras.length) { return '<p class="muted">无 none</p>'; }
    return '<ul class="cams">' + S.ctx.cameras.map(function (c) {
      return '<li data-camera="' + esc(c.code) + '"><span class="dot ' + esc(c.status) + '"></span>' + esc(c.code + " " + c.name + " (" + c.status + ")") + "</li>";
    }).join("") + "</ul>";
  }
  /* The city component (部件) the incident is about, when it names one. */
  function componentHtml() {
    const c = S.ctx && S.ctx.component;
    if (!c) { return ""; }
    return "<h4>部件 component</h4><div class='d-component'><code>" + esc(c.code) + "</code> " + esc(c.type_name) +
      (c.name ? " " + esc(c.name) : "") + " · " + esc(c.state_label) + (c.owner_dept ? " · " + esc(c.owner_dept) : "") + "</div>";
  }
  /* Buttons: exactly the actions the server allows this user on this incident now (its /context/). */
  function actionsHtml() {
    if (!S.ctx) { return '<p class="muted">…</p>'; }
    if (!S.ctx.allowed_actions.length) { return '<p class="muted">无可执行操作 no action for you now</p>'; }
    return actionButtonsHtml(S.ctx.allowed_actions, {
      minor: ["cancel", "out_of_jurisdiction"], label: function (a) { return a === "relocate" ? "在地图上定位 place on map" : null; }
    });
  }
  function submitAction(form) {
    const id = S.selected, p = S.feature.properties;
    performAction(id, form, S.feature, S.ctx && S.ctx.version).then(function (feature) {
      S.form = null;
      S.error = "";
      store.apply(feature, "action");
      if (S.selected === id) { S.feature = feature; render(); reload(); }
    }).catch(function (err) {
      S.error = errorLine(err);
      if (err.status === 412 && err.data && err.data.current) {  // changed meanwhile: show it as it is now
        S.form = null;
        store.apply(err.data.current, "action");
        if (S.selected === id) { S.feature = err.data.current; render(); reload(); }
        return;
      }
      renderInfoOnly(p);
    });
  }
  wirePhotoViewer(detail);
  detail.addEventListener("click", function (e) {
    const t = e.target;
    if (t.closest("[data-close]")) { watch(null); S.selected = null; S.form = null; stopPlacing(); opts.highlightCameras([]); render(); opts.onSelect(); return; }
    if (t.closest("[data-cancel]")) { S.form = null; render(); return; }
    const btn = t.closest("[data-action]");
    if (!btn || !S.feature) { return; }
    const a = btn.dataset.action;
    if (a === "relocate") { startPlacing(S.selected); return; }
    const previous = detail.querySelector(".action-form");
    if (previous) { previous.remove(); }
    S.form = a;
    S.error = "";
    render();
    openActionForm(detail, a, S.ctx);
  });
  detail.addEventListener("submit", function (e) { e.preventDefault(); submitAction(e.target); });

  /* ---- relocate a triage item by clicking the map ---- */
  const banner = document.getElementById("place-banner");
  function startPlacing(id) {
    S.placing = id;
    mapEl.classList.add("placing");
    const p = S.feature.properties;
    banner.innerHTML = "点击地图放置 click the map to place <b>" + esc(p.reference) + "</b> " + esc(p.title) +
      ' <button type="button" data-stop>取消 cancel (Esc)</button>';
    banner.hidden = false;
  }
  function stopPlacing() { S.placing = null; mapEl.classList.remove("placing"); banner.hidden = true; }
  banner.addEventListener("click", function (e) { if (e.target.closest("[data-stop]")) { stopPlacing(); } });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && S.placing) { stopPlacing(); } });
  map.on("click", function (e) { if (S.placing) { placeAt(e.latlng); } });
  function placeAt(latlng) {
    const id = S.placing, ll = latlng.wrap();
    stopPlacing();
    postJSON("/api/incidents/" + id + "/relocate/", { lon: ll.lng, lat: ll.lat, note: "指挥中心地图定位 placed on the map" })
      .then(function (feature) { store.apply(feature, "action"); if (S.selected === id) { S.feature = feature; S.error = ""; render(); load(); } })
      .catch(function (err) { S.error = errorLine(err); render(); });
  }

  /* The selected incident changed (live, a catch-up, an action): show it as it is now. */
  store.on(function (kind, f, old, via) {
    if (via === "initial" || via === "select" || S.selected !== f.id) { return; }
    S.feature = f;
    render();
    reload();
  });

  return {
    select: select, placeAt: placeAt,
    selected: function () { return S.selected; },
    placing: function () { return S.placing != null; }
  };
}
