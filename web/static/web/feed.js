/* The command centre's side lists: the live feed (every change as it comes, caught-up ones marked), the
   triage queue and the filtered list of open incidents (most urgent first), in tabs; a row opens its
   incident. */
import {
  SOURCE, TRIAGE, actionLabel, debounce, dueMs, esc, fmtDue, fmtTime, isOverdue, stateBadge, stateLabel, times
} from "web/helpers.js";
import { symbolSvg } from "web/symbols.js";

const FEED_MAX = 200, LIST_MAX = 300;

/* Most urgent first: overdue, then the nearest deadline, then the newest (keys computed once). */
function byUrgency(features) {
  const now = Date.now();
  return features.map(function (f) {
    const p = f.properties;
    return { f: f, late: isOverdue(p, now) ? 0 : 1, due: dueMs(p), created: times(p).created };
  }).sort(function (a, b) {
    return (a.late - b.late) || (a.due === b.due ? 0 : a.due < b.due ? -1 : 1) || b.created - a.created;
  }).map(function (k) { return k.f; });
}

/* opts: store, matches(properties) (the filters), selected() (the selected id), onOpen(id).
   Returns {render(), schedule(), addFeed(feature, event, via), progress(text)}. */
export function incidentLists(opts) {
  const store = opts.store, feed = document.getElementById("feed");

  document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b === btn)); });
      document.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.dataset.tabPanel !== btn.dataset.tab; });
    });
  });

  function rowHtml(f, extra) {
    const p = f.properties, due = fmtDue(p), late = isOverdue(p);
    return '<li class="row' + (late ? " late" : "") + (opts.selected() === f.id ? " selected" : "") + '" data-incident-id="' +
      esc(f.id) + '" tabindex="0">' + symbolSvg(p, 22) + '<div class="row-main"><div class="row-top"><b>' +
      esc(p.reference) + "</b> " + stateBadge(p.state) + (due ? ' <span class="due' + (late ? " late" : "") + '">' +
      esc(due) + "</span>" : "") + '</div><div class="row-title">' + esc(p.title) + '</div><div class="row-meta">' +
      esc(extra) + "</div></div></li>";
  }
  function render() {
    const all = Array.from(store.items.values());
    const triage = all.filter(function (f) { return f.properties.triage; }).sort(function (a, b) {
      return times(b.properties).created - times(a.properties).created;
    });
    const listed = byUrgency(all.filter(function (f) { return !f.properties.triage && opts.matches(f.properties); }));
    document.querySelector('[data-count="triage"]').textContent = triage.length;
    document.querySelector('[data-count="list"]').textContent = listed.length;
    document.getElementById("triage").innerHTML = triage.length ? '<ul class="rows">' + triage.map(function (f) {
      const p = f.properties;
      return rowHtml(f, (TRIAGE[p.triage] || p.triage) + (p.distance_m ? " · " + Math.round(p.distance_m) + " m" : "") +
        (p.address ? " · " + p.address : "") + " · " + (SOURCE[p.source] || p.source));
    }).join("") + "</ul>" : '<p class="muted empty">无待分拣事件 the triage queue is empty</p>';
    document.getElementById("list").innerHTML = listed.length ? '<ul class="rows">' + listed.slice(0, LIST_MAX).map(function (f) {
      const p = f.properties;
      return rowHtml(f, [p.category_name, p.village_name, p.grid_code, p.assignee ? p.assignee.name : ""].filter(Boolean).join(" · "));
    }).join("") + "</ul>" + (listed.length > LIST_MAX ? '<p class="muted">+' + (listed.length - LIST_MAX) + " …</p>" : "")
      : '<p class="muted empty">无匹配事件 no incident matches</p>';
  }

  function addFeed(f, ev, via) {
    const p = f.properties;
    const empty = feed.querySelector(".empty");
    if (empty) { empty.remove(); }
    const action = ev ? actionLabel(ev.action) : (via === "catchup" ? "补录 caught up" : "更新 changed");
    const move = ev && ev.to_state && ev.from_state !== ev.to_state ? stateLabel(ev.from_state || "") + " → " + stateLabel(ev.to_state)
      : stateLabel(p.state);
    const row = document.createElement("div");
    row.className = "feed-row" + (via === "catchup" ? " catchup" : "") + (isOverdue(p) ? " late" : "");
    row.dataset.incidentId = f.id;
    row.tabIndex = 0;
    row.innerHTML = "<time>" + esc(fmtTime(ev ? ev.created_at : p.updated_at, false)) + "</time>" + symbolSvg(p, 20) +
      '<div class="row-main"><div><b>' + esc(p.reference) + "</b> " + esc(action) + ' <span class="muted">' + esc(move) +
      "</span></div><div class='row-title'>" + esc(p.title) + '</div><div class="row-meta">' +
      esc([p.village_name, ev ? ev.actor_label : "", ev && ev.note ? "“" + ev.note + "”" : ""].filter(Boolean).join(" · ")) +
      "</div></div>";
    feed.insertBefore(row, feed.firstChild);
    while (feed.children.length > FEED_MAX) { feed.removeChild(feed.lastChild); }
  }
  /* The feed's placeholder while it is empty (loading progress, then waiting). */
  function progress(text) {
    const box = feed.querySelector(".empty");
    if (box) { box.textContent = text; }
  }

  function openRow(e) {
    const row = e.target.closest("[data-incident-id]");
    if (row && (e.type === "click" || e.key === "Enter")) { opts.onOpen(Number(row.dataset.incidentId)); }
  }
  ["feed", "triage", "list"].forEach(function (id) {
    const box = document.getElementById(id);
    box.addEventListener("click", openRow);
    box.addEventListener("keydown", openRow);
  });

  return { render: render, schedule: debounce(render, 150), addFeed: addFeed, progress: progress };
}
