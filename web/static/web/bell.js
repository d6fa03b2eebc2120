/* The bell (消息): the user's own notifications (/api/inbox/) with the unread count in the page's bar,
   a list under it, "mark all read", and a refresh whenever the live socket says the inbox changed.
   opts.onOpen(incidentId): what the page does when a notification is picked. */
import { esc, fmtTime, getJSON, postJSON } from "web/helpers.js";

const KIND = { assigned: "派给您 assigned", informed: "知悉 for your information", escalated: "升级 escalated",
  overdue: "超期 overdue", reopened: "重办 reopened", ext_asked: "延期申请 extension asked",
  ext_decided: "延期答复 extension decided" };

export function mountBell(button, opts) {
  opts = opts || {};
  const panel = document.createElement("div");
  panel.className = "bell-panel";
  panel.hidden = true;
  button.after(panel);
  const state = { unread: 0, results: [] };

  function render() {
    button.hidden = false;
    button.dataset.unread = String(state.unread);
    button.querySelector(".n").textContent = state.unread ? String(state.unread) : "";
    panel.innerHTML = '<div class="bell-head"><b>消息 notifications</b> <button type="button" data-read-all' +
      (state.unread ? "" : " disabled") + ">全部已读 mark all read</button></div>" +
      (state.results.length ? '<ol class="bell-list">' + state.results.map(function (n) {
        return '<li class="' + (n.read_at ? "read" : "unread") + '" data-id="' + esc(n.id) + '" data-incident="' +
          esc(n.incident) + '"><b>' + esc(KIND[n.kind] || n.kind) + "</b> " + esc(n.reference) +
          ' <time>' + esc(fmtTime(n.created_at)) + "</time><div>" + esc(n.message) + "</div></li>";
      }).join("") + "</ol>" : '<p class="muted">— 暂无 none —</p>');
  }
  function refresh() {
    return getJSON("/api/inbox/").then(function (page) { state.unread = page.unread; state.results = page.results; render(); })
      .catch(function () { /* the bell stays as it was; the next change or click tries again */ });
  }
  function markRead(body) {
    return postJSON("/api/inbox/read/", body).then(function (r) { state.unread = r.unread; return refresh(); });
  }
  button.addEventListener("click", function () { panel.hidden = !panel.hidden; if (!panel.hidden) { refresh(); } });
  panel.addEventListener("click", function (e) {
    if (e.target.closest("[data-read-all]")) { markRead({ all: true }); return; }
    const li = e.target.closest("li[data-id]");
    if (!li) { return; }
    if (li.classList.contains("unread")) { markRead({ ids: [Number(li.dataset.id)] }); }
    panel.hidden = true;
    if (opts.onOpen) { opts.onOpen(Number(li.dataset.incident)); }
  });
  refresh();
  return { refresh: refresh, state: state };
}
