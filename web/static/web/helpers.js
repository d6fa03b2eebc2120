/* What every page shares: labels, escaping, formatting, the incident's clocks and the API's fetch
   (session cookie, CSRF token, the API's error messages). No DOM of its own, no map. */

/* The incident rules as the server defines them (incidents.rules, in every page by web/modules.html). */
const RULES = JSON.parse(document.getElementById("incident-rules").textContent);
export const OPEN_STATES = RULES.open;
// The actions whose note the reporter and the source system read (incidents.rules.PUBLIC_NOTES).
export const PUBLIC_NOTES = RULES.public_notes;
// The API's largest page (core.schema.GeoJsonPagination.max_page_size).
export const MAX_PAGE = RULES.max_page_size;

export const STATE = {
  reported: ["上报", "reported", "#868e96"],
  registered: ["立案", "registered", "#1c7ed6"],
  dispatched: ["派遣", "dispatched", "#f08c00"],
  in_progress: ["处置", "in progress", "#7048e8"],
  handled: ["反馈", "handled", "#0ca678"],
  verified: ["核查", "verified", "#2b8a3e"],
  closed: ["结案", "closed", "#495057"],
  cancelled: ["撤销", "cancelled", "#adb5bd"],
  duplicate: ["重复", "duplicate", "#adb5bd"],
  out_of_jurisdiction: ["非本辖区", "out of jurisdiction", "#adb5bd"]
};
/* Each state's colour as a class, .st-<state> (.st-unknown otherwise). The pages build HTML as strings, and
   the Content Security Policy (style-src 'self') refuses style attributes in markup; rules given through
   the CSSOM are not markup. Doubled class: it outranks a container's "i { ... }" rule. */
const stateColours = new CSSStyleSheet();
stateColours.replaceSync(Object.keys(STATE).concat(["unknown"]).map(function (k) {
  return ".st-" + k + ".st-" + k + " { background: " + (STATE[k] ? STATE[k][2] : "#868e96") + "; }";
}).join("\n"));
document.adoptedStyleSheets = document.adoptedStyleSheets.concat([stateColours]);
export function stateClass(state) { return "st-" + (STATE[state] ? state : "unknown"); }
// Lifecycle actions the API offers as POST /api/incidents/{id}/{action}/, and the events' names.
export const ACTION = {
  report: "上报 reported", register: "立案 register", dispatch: "派遣 dispatch", accept: "接单 accept",
  report_handled: "反馈 report handled", verify: "核查 verify", rework: "返工 rework", close: "结案 close",
  cancel: "撤销 cancel", mark_duplicate: "重复 duplicate", out_of_jurisdiction: "非本辖区 out of jurisdiction",
  escalate: "升级 escalate", hand_back: "下派 hand back", reassign: "改派 reassign", relocate: "定位 relocate",
  merge: "合并重复 merge duplicate", merged: "合并 merged", return_to_centre: "退单 return to centre",
  request_extension: "申请延期 request extension", decide_extension: "审批延期 decide extension",
  approve_extension: "批准延期 extension approved", refuse_extension: "驳回延期 extension refused",
  return_visit: "回访 return visit", reopen: "重新办理 reopened", status_note: "办理进度 status note"
};
// 回访 outcomes (a return visit event's data.outcome)
export const OUTCOME = {
  satisfied: "满意 satisfied", basically_satisfied: "基本满意 basically satisfied", dissatisfied: "不满意 dissatisfied"
};
export const SOURCE = {
  hotline_12345: "12345热线 hotline", mayor_mailbox: "寄语市长 mayor's mailbox", patrol: "日常巡查 patrol",
  camera: "高清探头 camera", citizen: "群众 citizen", higher_level: "上级交办 higher level"
};
export const ROLE = {
  grid_worker: "专职网格员", cadre: "机关干部", police: "民辅警", enforcement: "综合执法队员", town_leader: "镇领导"
};
export const LEVEL = { 1: "网格 grid", 2: "村居 village", 3: "镇 town", 4: "职能部门 bureau" };
export const TRIAGE = {
  outside_town: "镇外 outside the town", unresolved_address: "地址未识别 address not found",
  no_location: "无位置 no location"
};

export function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

/* ---- the API ---- */

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (m) { return decodeURIComponent(m[1]); }
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function errorText(status, data) {
  if (data && typeof data === "object") {
    if (data.detail) { return Array.isArray(data.detail) ? data.detail.join(" ") : String(data.detail); }
    const parts = Object.keys(data).map(function (k) {
      const v = data[k];
      return k + ": " + (Array.isArray(v) ? v.join(" ") : (typeof v === "object" ? JSON.stringify(v) : v));
    });
    if (parts.length) { return parts.join("; "); }
  }
  return "HTTP " + status;
}

/* A page that works offline (the phone: web/offline.js) hands its queue here: every change it sends
   then carries an Idempotency-Key, and one that cannot reach the server is queued and sent again
   later (the server does it once); the promise rejects with .queued set. */
let offlineQueue = null;
export function setOfflineQueue(queue) { offlineQueue = queue; }
export function newKey(prefix) {
  return (prefix || "k") + "-" + (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(36).slice(2));
}

/* Send a request with the session cookie (and the CSRF token when there is a body); resolve with
   the JSON body, reject with an Error carrying .status and the API's message. */
export function request(method, url, body, headers) {
  const opts = { method: method, credentials: "same-origin", headers: Object.assign({ Accept: "application/json" }, headers || {}) };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRFToken"] = csrfToken();
    opts.body = JSON.stringify(body);
  }
  if (offlineQueue && method !== "GET" && !opts.headers["Idempotency-Key"]) {
    opts.headers["Idempotency-Key"] = newKey("phone");
  }
  return fetch(url, opts).catch(function (networkError) {
    if (!offlineQueue || method === "GET") { throw networkError; }
    return offlineQueue({ method: method, url: url, headers: opts.headers, body: opts.body }).then(function () {
      const err = new Error("离线, 已排队, 联网后发送 offline: queued, sent when the network returns");
      err.status = 0;
      err.queued = true;
      throw err;
    });
  }).then(function (r) {
    return r.text().then(function (text) {
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!r.ok) {
        const err = new Error(errorText(r.status, data));
        err.status = r.status;
        err.data = data;
        throw err;
      }
      return data;
    });
  });
}
export function getJSON(url) { return request("GET", url); }
export function postJSON(url, body, headers) { return request("POST", url, body || {}, headers); }
/* The message of a failed request as the pages show it: "409 · what the API said". */
export function errorLine(err) { return (err.status ? err.status + " · " : "") + err.message; }

function relative(url) {
  try { const u = new URL(url, location.href); return u.pathname + u.search; } catch (e) { return url; }
}

/* Fetch every page of a GeoJSON list; resolve with the features (and, as .cursor, the
   X-Changes-Cursor of the first page: the server's snapshot from before that read, so every change
   after it is in a later `changed_after` answer). onPage(features, count) is called after each
   page; nextUrl(fc, features) gives the next page's URL or null (default: the answer's `next`). */
export function fetchFeatures(url, onPage, nextUrl) {
  const out = [];
  out.cursor = null;
  function page(u) {
    return fetch(u, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw Object.assign(new Error(u + " HTTP " + r.status), { status: r.status }); }
      if (out.cursor === null) { out.cursor = r.headers.get("X-Changes-Cursor"); }
      return r.json();
    }).then(function (fc) {
      const features = (fc && fc.features) || [];
      Array.prototype.push.apply(out, features);
      if (onPage) { onPage(features, fc.count); }
      const next = nextUrl ? nextUrl(fc, features) : fc && fc.next ? relative(fc.next) : null;
      return next ? page(next) : out;
    });
  }
  return page(url);
}

/* Run fn `ms` after the last call (a burst of calls runs it once). */
export function debounce(fn, ms) {
  let t = null;
  return function () { clearTimeout(t); t = setTimeout(fn, ms); };
}

/* Run fn `ms` after the first of a burst of calls, and again after the next burst: unlike debounce, a
   steady stream of calls (live changes at 100 a second) does not hold it back for ever. */
export function throttle(fn, ms) {
  let t = null;
  return function () {
    if (t === null) { t = setTimeout(function () { t = null; fn(); }, ms); }
  };
}

/* ---- the incident's clocks ---- */

/* The incident's times as ms, parsed once per properties object (lists of many thousands sort fast). */
const parsed = new WeakMap();
export function times(p) {
  let t = parsed.get(p);
  if (!t) {
    t = { handle: p.handle_due_at ? Date.parse(p.handle_due_at) : NaN, accept: p.accept_due_at ? Date.parse(p.accept_due_at) : NaN,
          created: Date.parse(p.created_at), updated: Date.parse(p.updated_at) };
    parsed.set(p, t);
  }
  return t;
}

export function isOpen(p) { return OPEN_STATES.indexOf(p.state) >= 0 && !p.merged_into; }

/* The deadline of each clock the incident's state runs (rules.OVERDUE_CLOCKS), as ms. */
function runningDeadlines(p) {
  const t = times(p), at = { handle_due_at: t.handle, accept_due_at: t.accept };
  return RULES.overdue_clocks.filter(function (clock) { return clock[1].indexOf(p.state) >= 0; })
    .map(function (clock) { return at[clock[0]]; }).filter(function (ms) { return !isNaN(ms); });
}

/* Overdue as the server said, or since then: a clock ran out while nothing changed. */
export function isOverdue(p, now) {
  if (p.overdue) { return true; }
  now = now || Date.now();
  return runningDeadlines(p).some(function (ms) { return ms < now; });
}

/* The next deadline of an open incident (the earliest running clock), as ms or Infinity. */
export function dueMs(p) {
  return Math.min.apply(null, [Infinity].concat(runningDeadlines(p)));
}

/* ---- formatting ---- */

function pad(n) { return (n < 10 ? "0" : "") + n; }
export function fmtTime(iso, withDate) {
  if (!iso) { return ""; }
  const d = new Date(iso);
  if (isNaN(d)) { return ""; }
  const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
  return withDate === false ? hm + ":" + pad(d.getSeconds()) : pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm;
}
function fmtSpan(ms) {
  const min = Math.round(Math.abs(ms) / 60000);
  if (min < 60) { return min + "分 min"; }
  const h = Math.floor(min / 60);
  if (h < 48) { return h + "时" + pad(min % 60) + "分 " + h + "h" + pad(min % 60); }
  return Math.floor(h / 24) + "天 " + Math.floor(h / 24) + "d";
}
/* "剩 2h05 left" / "超期 1h10 late" for the next deadline, or "". */
export function fmtDue(p, now) {
  const due = dueMs(p);
  if (!isFinite(due)) { return ""; }
  const left = due - (now || Date.now());
  return left >= 0 ? "剩 " + fmtSpan(left) + " left" : "超期 " + fmtSpan(left) + " late";
}
/* A rate (0..1) as a percentage with one decimal, "–" when there is none. */
export function fmtRate(v) { return v === null || v === undefined ? "–" : Math.round(v * 1000) / 10 + "%"; }

export function stateLabel(state) { const s = STATE[state]; return s ? s[0] + " " + s[1] : state; }
export function stateBadge(state) {
  const s = STATE[state] || [state, ""];
  return '<span class="badge state ' + stateClass(state) + '">' + esc(s[0] + " " + s[1]) + "</span>";
}
export function actionLabel(a) { return ACTION[a] || a; }

/* A grid's team as a table (the assignee's row marked), from /api/grids/{code}/team/ or /context/. */
export function teamHtml(team, assignee) {
  if (!team) { return '<p class="muted">无网格团队 no grid team (not located in a grid)</p>'; }
  const aid = assignee ? assignee.person_id : null;
  const rows = team.members.map(function (m) {
    return "<tr" + (m.person_id === aid ? ' class="assignee"' : "") + "><td>" + esc(ROLE[m.role] || m.role) +
      " " + esc(m.slot) + "</td><td>" + esc(m.name) + '</td><td><span class="duty ' + (m.on_duty ? "on" : "off") +
      '">' + (m.on_duty ? "在岗 on duty" : "不在岗 off") + "</span></td><td>" + esc(m.phone || "") + "</td></tr>";
  }).join("");
  return '<div class="team-head">网格 ' + esc(team.grid_code) + " " + esc(team.grid_name || "") +
    " · 网格长 leader: <b>" + esc(team.leader.name) + "</b> " + esc(team.leader.phone || "") +
    '</div><table class="team">' + rows + "</table>";
}

/* What an event's data adds to its line: a return visit's outcome, an extension's deadlines. */
function eventDetail(e) {
  const d = e.data || {};
  if (e.action === "return_visit" && d.outcome) { return " · " + esc(OUTCOME[d.outcome] || d.outcome); }
  if (/_extension$/.test(e.action) && d.requested_due) {
    return " · " + esc(fmtTime(d.from_due)) + " → " + esc(fmtTime(d.requested_due));
  }
  return "";
}

/* An incident's events, newest first. */
const DELIVERY = { pending: "待推送 pending", delivered: "已推送 delivered", dead: "推送失败 failed" };
/* The timeline, newest first; `deliveries` (the command centre's: /api/incidents/{id}/deliveries/) mark
   what each event told the source system and how that went. */
export function timelineHtml(events, deliveries) {
  if (!events.length) { return '<p class="muted">—</p>'; }
  const sent = {};
  (deliveries || []).forEach(function (d) { (sent[d.event] = sent[d.event] || []).push(d); });
  return '<ol class="timeline">' + events.slice().reverse().map(function (e) {
    const move = e.from_state !== e.to_state && e.to_state ? " · " + esc(stateLabel(e.from_state)) + " → " +
      esc(stateLabel(e.to_state)) : "";
    const publicNote = e.public && PUBLIC_NOTES.indexOf(e.action) >= 0;
    return '<li data-action="' + esc(e.action) + '"><time>' + esc(fmtTime(e.created_at)) + "</time> <b>" +
      esc(actionLabel(e.action)) + "</b>" + move + eventDetail(e) + ' <span class="who">' + esc(e.actor_label) + "</span>" +
      (e.note ? '<div class="note">' + (publicNote ? '<span class="badge public">公开 public</span> ' : "") +
        esc(e.note) + "</div>" : "") +
      (sent[e.id] || []).map(function (d) {
        return '<div class="delivery d-' + esc(d.state) + '" title="' + esc(d.last_error || "") + '">→ ' +
          esc(d.client) + " " + esc(DELIVERY[d.state] || d.state) + (d.attempts > 1 ? " · " + d.attempts + "次 tries" : "") +
          "</div>";
      }).join("") + "</li>";
  }).join("") + "</ol>";
}
