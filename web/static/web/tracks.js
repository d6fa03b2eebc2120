/* Patrol tracks (巡查轨迹) for the leaders: the patrols of a day that the user may see, and the chosen
   one's track on the map, its doubtful points marked (too inaccurate, impossibly fast: the server flags
   them and leaves them out of the figures), with the worker's day figures (distance, time in their own
   grid, coverage, 在岗率). Tracks are personal data: the server answers only within the user's scope
   (patrols.selectors); this page only shows what it is given. */
import { esc, fmtRate, fmtTime, getJSON } from "web/helpers.js";

const LINE = { color: "#0b7285", weight: 3, opacity: 0.85 };
const FLAG = { inaccurate: "定位不准 inaccurate", too_fast: "速度异常 too fast" };

function minutes(s) { return Math.round(s / 60) + " 分钟 min"; }

/* The tracks block `box` (a day input, a list, a figures line) over `map`; returns {layer, load(), show(id), state}. */
export function patrolTracks(map, box) {
  const layer = L.layerGroup();
  const list = box.querySelector(".tr-list"), day = box.querySelector("input[name=day]");
  const figures = box.querySelector(".tr-figures");
  const state = { patrols: [], shown: null, points: 0, flagged: 0, figures: null };
  if (!day.value) {
    const now = new Date();
    day.value = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  function load() {
    layer.clearLayers();
    state.shown = null;
    figures.textContent = "";
    return getJSON("/api/patrols/?day=" + encodeURIComponent(day.value)).then(function (rows) {
      state.patrols = rows;
      list.innerHTML = rows.length ? rows.map(function (p) {
        return '<li data-patrol-id="' + esc(p.id) + '"><b>' + esc(p.person_name) + "</b> " +
          esc(fmtTime(p.started_at)) + " – " + (p.ended_at ? esc(fmtTime(p.ended_at)) : "巡查中 on patrol") + "</li>";
      }).join("") : '<li class="muted">当日无巡查 no patrols that day</li>';
      return rows;
    });
  }

  function show(id) {
    const patrol = state.patrols.find(function (p) { return String(p.id) === String(id); });
    if (!patrol) { return Promise.resolve(null); }
    list.querySelectorAll("li").forEach(function (li) { li.classList.toggle("on", li.dataset.patrolId === String(id)); });
    return getJSON("/api/patrols/" + encodeURIComponent(id) + "/track/").then(function (fc) {
      layer.clearLayers();
      const points = fc.features.filter(function (f) { return f.properties.kind === "point"; });
      const drawn = L.geoJSON(fc, {
        style: LINE,
        filter: function (f) { return f.properties.kind === "track" || Boolean(f.properties.flag); },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, { radius: 5, color: "#e8590c", weight: 2, fillOpacity: 0.6, className: "tr-flagged" })
            .bindTooltip(esc(fmtTime(f.properties.t)) + " · " + esc(FLAG[f.properties.flag] || f.properties.flag) +
                         " · ±" + esc(Math.round(f.properties.accuracy_m)) + " m");
        }
      }).addTo(layer);
      if (points.length) {  // where it began and where it ended
        const ends = [points[0], points[points.length - 1]];
        ends.forEach(function (f, n) {
          const c = f.geometry.coordinates;
          L.circleMarker([c[1], c[0]], { radius: 6, color: n ? "#c92a2a" : "#2b8a3e", weight: 2, fillOpacity: 0.9 })
            .bindTooltip((n ? "终 end " : "起 start ") + esc(fmtTime(f.properties.t))).addTo(layer);
        });
      }
      const bounds = drawn.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds.pad(0.2), { maxZoom: 17 }); }
      state.shown = patrol.id;
      state.points = points.length;
      state.flagged = points.filter(function (f) { return f.properties.flag; }).length;
      return getJSON("/api/patrols/day/?person=" + encodeURIComponent(patrol.person) + "&day=" + encodeURIComponent(day.value));
    }).then(function (d) {
      state.figures = d;
      figures.innerHTML = "<b>" + esc(d.name) + "</b> " + esc(d.day) + ": " +
        "巡查 on patrol " + esc(minutes(d.on_patrol_s)) + " · 里程 " + esc(Math.round(d.distance_m)) + " m · " +
        "本网格内 in own grid " + esc(minutes(d.in_own_grid_s)) + " · 覆盖 coverage " + esc(fmtRate(d.coverage)) +
        " · 在岗率 " + esc(fmtRate(d.presence)) + " · 点 " + esc(d.points) +
        (d.flagged ? ' · <span class="tr-flag">存疑 flagged ' + esc(d.flagged) + "</span>" : "") +
        (state.points && state.points >= 20000 ? " · 仅显示前两万点 first 20,000 points" : "");
      return d;
    });
  }

  list.addEventListener("click", function (e) {
    const li = e.target.closest("li[data-patrol-id]");
    if (li) { show(li.dataset.patrolId); }
  });
  day.addEventListener("change", load);
  return { layer: layer, load: load, show: show, state: state };
}
