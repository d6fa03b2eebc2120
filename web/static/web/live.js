/* Shared client code of the command centre and the grid team workspace:
   API helpers (session auth + CSRF), labels, incident symbols, the incident registry and the live
   socket (/ws/incidents/) with reconnect + catch-up. No build step, no external request. */
(function () {
  "use strict";

  var OPEN_STATES = ["reported", "registered", "dispatched", "in_progress", "handled", "verified"];
  var CLOCK_STATES = ["registered", "dispatched", "in_progress"];
  // Lifecycle actions the API offers as POST /api/incidents/{id}/{action}/ (incidents/apis.py).

  var STATE = {
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
  var ACTION = {
    report: "上报 reported", register: "立案 register", dispatch: "派遣 dispatch", accept: "接单 accept",
    report_handled: "反馈 report handled", verify: "核查 verify", rework: "返工 rework", close: "结案 close",
    cancel: "撤销 cancel", mark_duplicate: "重复 duplicate", out_of_jurisdiction: "非本辖区 out of jurisdiction",
    escalate: "升级 escalate", hand_back: "下派 hand back", reassign: "改派 reassign", relocate: "定位 relocate",
    merge: "合并重复 merge duplicate", merged: "合并 merged"
  };
  var SOURCE = {
    hotline_12345: "12345热线 hotline", mayor_mailbox: "寄语市长 mayor's mailbox", patrol: "日常巡查 patrol",
    camera: "高清探头 camera", citizen: "群众 citizen", higher_level: "上级交办 higher level"
  };
  var ROLE = {
    grid_worker: "专职网格员", cadre: "机关干部", police: "民辅警", enforcement: "综合执法队员", town_leader: "镇领导"
  };
  var LEVEL = { 1: "网格 grid", 2: "村居 village", 3: "镇 town", 4: "职能部门 bureau" };
  var TRIAGE = {
    outside_town: "镇外 outside the town", unresolved_address: "地址未识别 address not found",
    no_location: "无位置 no location"
  };
  // Category symbol: a shape and one glyph; unknown categories get a circle and their first character.
  var CATEGORY = {
    illegal_construction: ["square", "违"], straw_burning: ["triangle", "火"], public_security: ["diamond", "安"],
    rental_housing: ["house", "房"], work_safety: ["hexagon", "产"], environment_sanitation: ["circle", "环"],
    roads_facilities: ["octagon", "路"], neighbour_dispute: ["pentagon", "纠"], other: ["circle", "其"]
  };
  var SHAPES = {
    circle: '<circle cx="14" cy="14" r="9"/>',
    square: '<rect x="5.5" y="5.5" width="17" height="17" rx="2"/>',
    diamond: '<path d="M14 3.5L24.5 14L14 24.5L3.5 14Z"/>',
    triangle: '<path d="M14 4L24.5 22.5H3.5Z"/>',
    house: '<path d="M14 4L24 12V23.5H4V12Z"/>',
    hexagon: '<path d="M14 4L22.7 9V19L14 24L5.3 19V9Z"/>',
    octagon: '<path d="M10 4.5H18L23.5 10V18L18 23.5H10L4.5 18V10Z"/>',
    pentagon: '<path d="M14 4L23.5 11L20 23H8L4.5 11Z"/>'
  };

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) { return decodeURIComponent(m[1]); }
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function errorText(status, data) {
    if (data && typeof data === "object") {
      if (data.detail) { return Array.isArray(data.detail) ? data.detail.join(" ") : String(data.detail); }
      var parts = Object.keys(data).map(function (k) {
        var v = data[k];
        return k + ": " + (Array.isArray(v) ? v.join(" ") : (typeof v === "object" ? JSON.stringify(v) : v));
      });
      if (parts.length) { return parts.join("; "); }
    }
    return "HTTP " + status;
  }

  /* Send a request with the session cookie (and the CSRF token when there is a body); resolve with
     the JSON body, reject with an Error carrying .status and the API's message. */
  function request(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = csrfToken();
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var err = new Error(errorText(r.status, data));
          err.status = r.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }
  function getJSON(url) { return request("GET", url); }
  function postJSON(url, body) { return request("POST", url, body || {}); }

  function relative(url) {
    try { var u = new URL(url, location.href); return u.pathname + u.search; } catch (e) { return url; }
  }

  /* Fetch every page of a GeoJSON list; resolve with the features (and, as .cursor, the
     X-Changes-Cursor of the first page: the server's snapshot from before that read, so every change
     after it is in a later `changed_after` answer). onPage(features, count) is called after each
     page; nextUrl(fc, features) gives the next page's URL or null (default: the answer's `next`). */
  function fetchFeatures(url, onPage, nextUrl) {
    var out = [];
    out.cursor = null;
    function page(u) {
      return fetch(u, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
        if (!r.ok) { throw Object.assign(new Error(u + " HTTP " + r.status), { status: r.status }); }
        if (out.cursor === null) { out.cursor = r.headers.get("X-Changes-Cursor"); }
        return r.json();
      }).then(function (fc) {
        var features = (fc && fc.features) || [];
        Array.prototype.push.apply(out, features);
        if (onPage) { onPage(features, fc.count); }
        var next = nextUrl ? nextUrl(fc, features) : fc && fc.next ? relative(fc.next) : null;
        return next ? page(next) : out;
      });
    }
    return page(url);
  }

  /* Load the open incidents into the store, in pages by id (keyset: `before` the last id of the
     previous page), so an incident that closes while later pages load does not shift the rest and
     make one be skipped, as page numbers would. The catch-up cursor is the first page's (a catch-up
     asked for meanwhile waits for the load): whatever changes after that read is caught up. */
  function loadOpen(store, onPage) {
    var size = window.GRIDOPS_PAGE_SIZE || 10000, loaded = 0, total = null;
    var base = "/api/incidents/?" + OPEN_STATES.map(function (s) { return "state=" + s; }).join("&") + "&page_size=" + size;
    store.loading = fetchFeatures(base + "&before=" + Number.MAX_SAFE_INTEGER, function (features, count) {
      if (total === null) { total = count; }  // the first page counts them all
      features.forEach(function (f) { store.apply(f, "initial"); });
      loaded += features.length;
      if (onPage) { onPage(features, loaded, total); }
    }, function (fc, features) {
      return features.length === size ? base + "&before=" + features[features.length - 1].id : null;
    }).then(function (features) {
      store.advance(features.cursor);
      return features;
    });
    return store.loading;
  }

  /* The incident's times as ms, parsed once per properties object (lists of many thousands sort fast). */
  var parsed = new WeakMap();
  function times(p) {
    var t = parsed.get(p);
    if (!t) {
      t = { handle: p.handle_due_at ? Date.parse(p.handle_due_at) : NaN, accept: p.accept_due_at ? Date.parse(p.accept_due_at) : NaN,
            created: Date.parse(p.created_at), updated: Date.parse(p.updated_at) };
      parsed.set(p, t);
    }
    return t;
  }

  function isOpen(p) { return OPEN_STATES.indexOf(p.state) >= 0 && !p.merged_into; }

  /* Overdue as the server said, or since then: a clock ran out while nothing changed. */
  function isOverdue(p, now) {
    if (p.overdue) { return true; }
    if (CLOCK_STATES.indexOf(p.state) < 0) { return false; }
    now = now || Date.now();
    var t = times(p), handle = t.handle, accept = t.accept;
    return handle < now || (p.state === "dispatched" && accept < now);
  }

  /* The next deadline of an open incident (accept first while dispatched), as ms or Infinity. */
  function dueMs(p) {
    var t = times(p), due = Infinity;
    if (p.state === "dispatched" && t.accept < due) { due = t.accept; }
    if (CLOCK_STATES.indexOf(p.state) >= 0 && t.handle < due) { due = t.handle; }
    return due;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmtTime(iso, withDate) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    if (isNaN(d)) { return ""; }
    var hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return withDate === false ? hm + ":" + pad(d.getSeconds()) : pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm;
  }
  function fmtSpan(ms) {
    var min = Math.round(Math.abs(ms) / 60000);
    if (min < 60) { return min + "分 min"; }
    var h = Math.floor(min / 60);
    if (h < 48) { return h + "时" + pad(min % 60) + "分 " + h + "h" + pad(min % 60); }
    return Math.floor(h / 24) + "天 " + Math.floor(h / 24) + "d";
  }
  /* "剩 2h05 left" / "超期 1h10 late" for the next deadline, or "". */
  function fmtDue(p, now) {
    var due = dueMs(p);
    if (!isFinite(due)) { return ""; }
    var left = due - (now || Date.now());
    return left >= 0 ? "剩 " + fmtSpan(left) + " left" : "超期 " + fmtSpan(left) + " late";
  }

  function stateLabel(state) { var s = STATE[state]; return s ? s[0] + " " + s[1] : state; }
  function stateBadge(state) {
    var s = STATE[state] || [state, "", "#868e96"];
    return '<span class="badge state" style="background:' + s[2] + '">' + esc(s[0] + " " + s[1]) + "</span>";
  }
  function actionLabel(a) { return ACTION[a] || a; }

  /* Inline SVG symbol: shape + glyph by category, fill by state, red ring when overdue, dashed ring
     for triage items. */
  function symbolSvg(p, size) {
    var cat = CATEGORY[p.category] || ["circle", (p.category_name || p.category || "?").charAt(0)];
    var colour = (STATE[p.state] || STATE.reported)[2];
    var ring = isOverdue(p) ? '<circle cx="14" cy="14" r="12.5" fill="none" stroke="#e03131" stroke-width="3"/>' : "";
    var triage = p.triage ? '<circle cx="14" cy="14" r="12.5" fill="none" stroke="#c2255c" stroke-width="1.5" stroke-dasharray="3 2"/>' : "";
    size = size || 28;
    return '<svg class="inc-svg" width="' + size + '" height="' + size + '" viewBox="0 0 28 28" aria-hidden="true">' +
      ring + triage + '<g fill="' + colour + '" stroke="#fff" stroke-width="1.5">' + SHAPES[cat[0]] + "</g>" +
      '<text x="14" y="14.5" text-anchor="middle" dominant-baseline="central" font-size="10" fill="#fff">' +
      esc(cat[1]) + "</text></svg>";
  }
  function incidentIcon(feature) {
    var p = feature.properties;
    return L.divIcon({
      className: "inc-icon" + (isOverdue(p) ? " overdue" : ""),
      html: '<span data-incident-id="' + esc(feature.id) + '" data-state="' + esc(p.state) + '">' + symbolSvg(p) + "</span>",
      iconSize: [28, 28], iconAnchor: [14, 14], tooltipAnchor: [12, 0], popupAnchor: [0, -12]
    });
  }
  /* A cluster of incident markers: its count, with a red ring when one of them is overdue. */
  function clusterIcon(cluster) {
    var late = cluster.getAllChildMarkers().some(function (m) { return m.options.overdue; });
    var n = cluster.getChildCount();
    return L.divIcon({
      className: "inc-cluster" + (late ? " overdue" : ""), html: "<span>" + n + "</span>",
      iconSize: n < 100 ? [34, 34] : [42, 42]
    });
  }
  function latLngOf(feature) {
    var g = feature.geometry;
    return g && g.type === "Point" ? L.latLng(g.coordinates[1], g.coordinates[0]) : null;
  }

  /* The registry of open incidents (id -> GeoJSON feature), fed by the initial load, the socket, the
     catch-up and action responses; listeners get (kind, feature, previous, via). */
  function IncidentStore() {
    this.items = new Map();
    this.cursor = null;  // X-Changes-Cursor of the newest load or catch-up (null: none yet)
    this.loading = null;  // the initial load, while and after it runs
    this.listeners = [];
    this.removedAt = new Map();  // id -> updated_at (ms) of the change that closed it
  }
  IncidentStore.prototype.on = function (fn) { this.listeners.push(fn); };
  /* Take the cursor of a newer read (loads and catch-ups run one after the other). */
  IncidentStore.prototype.advance = function (cursor) {
    if (cursor) { this.cursor = cursor; }
  };
  IncidentStore.prototype.apply = function (feature, via) {
    if (!feature || feature.id == null || !feature.properties) { return "ignored"; }
    var p = feature.properties, old = this.items.get(feature.id);
    if (old) {
      var before = Date.parse(old.properties.updated_at), now = Date.parse(p.updated_at);
      if (now < before) { return "stale"; }
      if (now === before && old.properties.state === p.state && via === "catchup") { return "unchanged"; }
    } else if (this.removedAt.has(feature.id) && Date.parse(p.updated_at) <= this.removedAt.get(feature.id)) {
      return "stale";  // an older copy of an incident already closed (a late catch-up answer)
    }
    var kind;
    if (!isOpen(p)) {
      if (!old) { return "ignored"; }
      this.items.delete(feature.id);
      this.removedAt.set(feature.id, Date.parse(p.updated_at));
      kind = "removed";
    } else {
      this.items.set(feature.id, feature);
      kind = old ? "updated" : "added";
    }
    this.listeners.forEach(function (fn) { fn(kind, feature, old, via); });
    return kind;
  };

  /* Open the live socket; on every (re)connect and on "refresh" catch up with changed_since.
     opts: store, onMessage(msg) for "incident" messages (after the store applied the feature),
     onCatchUp(features), onStatus(status). Returns a handle (status, catchUp(), drop()). */
  function connectLive(opts) {
    var store = opts.store;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/incidents/";
    var ws = null, attempt = 0, timer = null, heartbeat = null, lastHeard = 0, catching = null, again = false;
    // caughtUp: ids the catch-ups returned (the newest 5000), for the curious and for tests.
    var live = { status: "connecting", connects: 0, catchUps: 0, caughtUp: [], catchUp: catchUp, drop: drop };

    function setStatus(s) {
      live.status = s;
      document.body.dataset.live = s;
      if (opts.onStatus) { opts.onStatus(s); }
    }
    function open() {
      clearTimeout(timer);
      timer = null;
      if (navigator.onLine === false) { setStatus("offline"); return; }
      setStatus(attempt ? "reconnecting" : "connecting");
      var sock = ws = new WebSocket(url);
      sock.onopen = function () {
        if (sock !== ws) { return; }
        attempt = 0;
        live.connects += 1;
        lastHeard = Date.now();
        setStatus("open");
        startHeartbeat();
      };
      sock.onmessage = function (e) {
        if (sock !== ws) { return; }
        lastHeard = Date.now();
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        handle(msg);
      };
      sock.onclose = function () {
        if (sock !== ws) { return; }
        ws = null;
        stopHeartbeat();
        schedule();
      };
    }
    function schedule() {
      if (navigator.onLine === false) { setStatus("offline"); return; }
      setStatus("reconnecting");
      if (attempt === 3) { checkSession(); }
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
      attempt += 1;
      clearTimeout(timer);
      timer = setTimeout(open, delay);
    }
    function handle(msg) {
      if (msg.type === "incident") {
        store.apply(msg.feature, "live");
        if (opts.onMessage) { opts.onMessage(msg); }
      } else if (msg.type === "refresh") {
        catchUp();
      } else if (msg.type === "hello") {
        // The server sends hello once the socket listens: what changed before is caught up now.
        catchUp();
      }
    }
    // A socket that hears nothing (not even the pong) for 70 s is dead: close it and reconnect.
    function startHeartbeat() {
      stopHeartbeat();
      heartbeat = setInterval(function () {
        if (!ws || ws.readyState !== 1) { return; }
        if (Date.now() - lastHeard > 70000) { ws.close(); return; }
        ws.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    }
    function stopHeartbeat() { clearInterval(heartbeat); heartbeat = null; }

    function catchUp() {
      if (catching) { again = true; return catching; }
      catching = Promise.resolve(store.loading).catch(function () { return null; }).then(function () {
        if (store.cursor === null) { return []; }  // no load yet: nothing to catch up from
        return fetchFeatures("/api/incidents/?changed_after=" + encodeURIComponent(store.cursor) + "&page_size=10000");
      })
        .then(function (features) {
          store.advance(features.cursor);
          live.catchUps += 1;
          features.sort(function (a, b) {
            return Date.parse(a.properties.updated_at) - Date.parse(b.properties.updated_at);
          });
          var applied = features.filter(function (f) {
            live.caughtUp.push(f.id);
            var kind = store.apply(f, "catchup");
            return kind === "added" || kind === "updated" || kind === "removed";
          });
          if (live.caughtUp.length > 5000) { live.caughtUp.splice(0, live.caughtUp.length - 5000); }
          if (opts.onCatchUp) { opts.onCatchUp(applied); }
          return applied;
        })
        .catch(function (err) {
          console.warn("catch-up failed, retried in 10 s:", err.message);
          setTimeout(function () { if (ws && ws.readyState === 1) { catchUp(); } }, 10000);
          return [];
        })
        .then(function (applied) {
          catching = null;
          if (again) { again = false; return catchUp(); }
          return applied;
        });
      return catching;
    }
    /* A socket refused again and again may mean the session ended: then go to the login page. */
    function checkSession() {
      getJSON("/api/me/").catch(function (err) {
        if (err.status === 401 || err.status === 403) {
          location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname));
        }
      });
    }
    /* Drop the connection as a network failure would (the reconnect logic takes over). */
    function drop() { if (ws) { ws.close(); } }

    window.addEventListener("offline", function () {
      var sock = ws;
      ws = null;
      stopHeartbeat();
      clearTimeout(timer);
      if (sock) { sock.close(); }
      setStatus("offline");
    });
    window.addEventListener("online", function () {
      if (!ws) { attempt = 0; open(); }
    });
    open();
    return live;
  }

  /* Run fn at most once per `ms` (trailing call kept). */
  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  /* The page's map on `el`: the optional base tiles, and a first view on the town (the element's
     data-center, "lat,lon", from the server) until the page fits its layers. */
  function pageMap(el, maxZoom) {
    var map = L.map(el, { zoomSnap: 0.25, maxZoom: maxZoom || 19 });
    tileLayer(map, el);
    var c = (el.dataset.center || "").split(",").map(Number);
    if (c.length === 2 && isFinite(c[0]) && isFinite(c[1])) { map.setView(c, 12); } else { map.setView([0, 0], 2); }
    return map;
  }

  function tileLayer(map, el) {
    var tileUrl = el.dataset.tileUrl;
    if (tileUrl) { L.tileLayer(tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map); }
  }

  function teamHtml(team, assignee) {
    if (!team) { return '<p class="muted">无网格团队 no grid team (not located in a grid)</p>'; }
    var aid = assignee ? assignee.person_id : null;
    var rows = team.members.map(function (m) {
      return "<tr" + (m.person_id === aid ? ' class="assignee"' : "") + "><td>" + esc(ROLE[m.role] || m.role) +
        " " + esc(m.slot) + "</td><td>" + esc(m.name) + '</td><td><span class="duty ' + (m.on_duty ? "on" : "off") +
        '">' + (m.on_duty ? "在岗 on duty" : "不在岗 off") + "</span></td><td>" + esc(m.phone || "") + "</td></tr>";
    }).join("");
    return '<div class="team-head">网格 ' + esc(team.grid_code) + " " + esc(team.grid_name || "") +
      " · 网格长 leader: <b>" + esc(team.leader.name) + "</b> " + esc(team.leader.phone || "") +
      '</div><table class="team">' + rows + "</table>";
  }

  function timelineHtml(events) {
    if (!events.length) { return '<p class="muted">—</p>'; }
    return '<ol class="timeline">' + events.slice().reverse().map(function (e) {
      var move = e.from_state !== e.to_state && e.to_state ? " · " + esc(stateLabel(e.from_state)) + " → " +
        esc(stateLabel(e.to_state)) : "";
      return '<li data-action="' + esc(e.action) + '"><time>' + esc(fmtTime(e.created_at)) + "</time> <b>" +
        esc(actionLabel(e.action)) + "</b>" + move + ' <span class="who">' + esc(e.actor_label) + "</span>" +
        (e.note ? '<div class="note">' + esc(e.note) + "</div>" : "") + "</li>";
    }).join("") + "</ol>";
  }

  /* The form of one action: a note (or a reason, required where the action needs one) and, for a
     reassignment, the people of the team to choose from. */
  var NEEDS_TEXT = {
    report_handled: "处置情况 what was done", rework: "返工原因 why", cancel: "理由 reason",
    out_of_jurisdiction: "理由 reason", escalate: "理由 reason", hand_back: "理由 reason", reassign: "理由 reason"
  };
  function actionFormHtml(action, team) {
    var people = "";
    if (action === "reassign") {
      var opts = team ? [{ person_id: team.leader.person_id, name: team.leader.name, role: "网格长 leader", slot: "" }]
        .concat(team.members) : [];
      people = '<label>改派给 to <select name="person" required>' + opts.map(function (m) {
        return '<option value="' + esc(m.person_id) + '">' + esc(m.name + " · " + (ROLE[m.role] || m.role) + " " +
          (m.slot || "") + (m.on_duty === false ? " (不在岗 off duty)" : "")) + "</option>";
      }).join("") + "</select></label>";
    }
    return '<form class="action-form" data-form="' + esc(action) + '"><div class="form-title">' + esc(actionLabel(action)) +
      "</div>" + people + '<textarea name="text" rows="3" placeholder="' + esc(NEEDS_TEXT[action] || "备注 note (可选 optional)") +
      '"' + (NEEDS_TEXT[action] ? " required" : "") + '></textarea><div class="form-row"><button type="submit" class="primary">' +
      '确认 confirm</button> <button type="button" data-cancel>取消 cancel</button></div></form>';
  }
  /* The request body of an action from its form (see incidents/serializers.py). */
  function actionBody(form, feature) {
    var action = form.dataset.form, text = form.elements.text.value.trim();
    if (action === "escalate" || action === "hand_back") { return { reason: text }; }
    if (action === "reassign") { return { person: form.elements.person.value, reason: text }; }
    if (action === "merge") { return { into: feature.properties.possible_duplicate_of, note: text }; }
    return { note: text };
  }

  window.GridLive = {
    OPEN_STATES: OPEN_STATES, CLOCK_STATES: CLOCK_STATES, STATE: STATE, ACTION: ACTION,
    SOURCE: SOURCE, ROLE: ROLE, LEVEL: LEVEL, TRIAGE: TRIAGE, CATEGORY: CATEGORY,
    esc: esc, csrfToken: csrfToken, request: request, getJSON: getJSON, postJSON: postJSON,
    fetchFeatures: fetchFeatures, loadOpen: loadOpen, times: times, isOpen: isOpen, isOverdue: isOverdue, dueMs: dueMs, fmtTime: fmtTime,
    fmtDue: fmtDue, stateLabel: stateLabel, stateBadge: stateBadge, actionLabel: actionLabel,
    symbolSvg: symbolSvg, incidentIcon: incidentIcon, clusterIcon: clusterIcon, latLngOf: latLngOf, IncidentStore: IncidentStore,
    connectLive: connectLive, debounce: debounce, tileLayer: tileLayer, pageMap: pageMap, teamHtml: teamHtml,
    timelineHtml: timelineHtml, actionFormHtml: actionFormHtml, actionBody: actionBody
  };
}());
