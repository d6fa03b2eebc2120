/* The command centre's side lists: the live feed (every change as it comes, caught-up ones marked), the
   triage queue, the return visits due (回访) and the filtered list of open incidents (newest first, paged and filtered on the server), in
   tabs; a row opens its incident. */
import {
  SOURCE, TRIAGE, actionLabel, esc, fmtDue, fmtTime, getJSON, isOverdue, stateBadge, stateLabel, throttle
} from "web/helpers.js";
import { symbolSvg } from "web/symbols.js";

const FEED_MAX = 200;
const PAGE = 50;
const FIRST = "&before=9007199254740991";  // keyset: every id is smaller

/* opts: query() (the filters as a query string, "&state=...&category=..."), selected() (the selected id),
   onOpen(id). The list and the triage queue are read from the server page by page (keyset: `before` the
   last id shown, newest first), filtered there; "more" appends the next page.
   Returns {reload(), schedule(), addFeed(feature, event, via), progress(text), pages}. */
export function incidentLists(opts) {
  const feed = document.getElementById("feed");
  const tabs = {
    list: { box: document.getElementById("list"), next: null, rows: 0, seq: 0,
            url: function () { return "/api/incidents/?page_size=" + PAGE + opts.query() + "&triage=false"; },
            empty: "无匹配事件 no incident matches" },
    triage: { box: document.getElementById("triage"), next: null, rows: 0, seq: 0,
              url: function () { return "/api/incidents/?page_size=" + PAGE + "&state=reported&triage=true"; },
              empty: "无待分拣事件 the triage queue is empty" },
    // 待回访: closed incidents with no return visit since they closed (the operator's queue)
    visits: { box: document.getElementById("visits"), next: null, rows: 0, seq: 0,
              url: function () { return "/api/incidents/?page_size=" + PAGE + "&visit=due"; },
              empty: "无待回访事件 no return visit is due" }
  };
  let current = "feed";

  document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll(".cc-tabs [data-tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b === btn)); });
      document.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.dataset.tabPanel !== btn.dataset.tab; });
      current = btn.dataset.tab;
      if (tabs[current]) { load(current, true); }
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
  function metaOf(name, p) {
    if (name === "triage") {
      return (TRIAGE[p.triage] || p.triage) + (p.distance_m ? " · " + Math.round(p.distance_m) + " m" : "") +
        (p.address ? " · " + p.address : "") + " · " + (SOURCE[p.source] || p.source);
    }
    if (name === "visits") {
      return ["结案 closed " + fmtTime(p.closed_at), p.category_name, p.village_name,
        p.reworks ? "返工 reworks " + p.reworks : ""].filter(Boolean).join(" · ");
    }
    return [p.category_name, p.village_name, p.grid_code, p.assignee ? p.assignee.name : ""].filter(Boolean).join(" · ");
  }
  /* Read the tab's first page again (fresh: its filters or what changed), or the next one. */
  function load(name, fresh) {
    const tab = tabs[name], seq = ++tab.seq;
    const url = fresh ? tab.url() + FIRST : tab.next;
    if (!url) { return Promise.resolve(); }
    tab.box.setAttribute("aria-busy", "true");
    return getJSON(url).then(function (fc) {
      if (seq !== tab.seq) { return; }
      const html = fc.features.map(function (f) { return rowHtml(f, metaOf(name, f.properties)); }).join("");
      let ul = tab.box.querySelector("ul.rows");
      if (fresh || !ul) {
        tab.box.innerHTML = fc.features.length ? '<ul class="rows"></ul>' : '<p class="muted empty">' + tab.empty + "</p>";
        tab.rows = 0;
        ul = tab.box.querySelector("ul.rows");
      }
      if (ul) { ul.insertAdjacentHTML("beforeend", html); }
      tab.rows += fc.features.length;
      tab.next = fc.next ? relative(fc.next) : null;
      const more = tab.box.querySelector(".more");
      if (more) { more.remove(); }
      if (tab.next) {
        tab.box.insertAdjacentHTML("beforeend", '<button type="button" class="more" data-more="' + name + '">更多 more…</button>');
      }
      document.querySelector('[data-count="' + name + '"]').textContent = tab.rows + (tab.next ? "+" : "");
      tab.box.dataset.rows = tab.rows;
      tab.box.removeAttribute("aria-busy");
    }).catch(function (err) {
      if (seq === tab.seq) { tab.box.removeAttribute("aria-busy"); console.warn(name + ":", err.message); }
    });
  }
  /* The shown tab again from its first page (its filters changed); the other one when opened. */
  function reload() {
    Object.keys(tabs).forEach(function (name) { tabs[name].next = null; });
    if (tabs[current]) { return load(current, true); }
    return Promise.resolve();
  }
  /* After live changes: the shown tab's first page again, unless more pages were opened (kept as read). */
  const schedule = throttle(function () {
    const tab = tabs[current];
    if (tab && tab.rows <= PAGE) { load(current, true); }
  }, 1500);

  function relative(url) {
    try { const u = new URL(url, location.href); return u.pathname + u.search; } catch (e) { return url; }
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
  ["feed", "triage", "visits", "list"].forEach(function (id) {
    const box = document.getElementById(id);
    box.addEventListener("click", function (e) {
      const more = e.target.closest("[data-more]");
      if (more) { more.disabled = true; load(more.dataset.more, false); return; }
      openRow(e);
    });
    box.addEventListener("keydown", openRow);
  });

  return { reload: reload, schedule: schedule, addFeed: addFeed, progress: progress, tabs: tabs };
}
