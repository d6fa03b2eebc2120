/* The live socket (/ws/incidents/): reconnect with backoff, a heartbeat, and on every (re)connect a
   catch-up of what changed meanwhile, from the store's changes cursor; the status in the page's badge. */
import { fetchFeatures, getJSON } from "web/helpers.js";

/* Open the live socket; on every (re)connect and on "refresh" catch up with changed_after.
   opts: store, onMessage(msg) for "incident" messages (after the store applied the feature), onInbox(),
   onCatchUp(features), onStatus(status). Returns a handle (status, catchUp(), drop()). */
export function connectLive(opts) {
  const store = opts.store;
  // ?inbox=1: this page shows the bell, so it hears when the user's inbox changes (web/bell.js)
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/incidents/" +
    (opts.onInbox ? "?inbox=1" : "");
  let ws = null, attempt = 0, timer = null, heartbeat = null, lastHeard = 0, catching = null, again = false;
  // caughtUp: ids the catch-ups returned (the newest 5000), for the curious and for tests.
  const live = { status: "connecting", connects: 0, catchUps: 0, caughtUp: [], catchUp: catchUp, drop: drop };

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
    const sock = ws = new WebSocket(url);
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
      let msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      handle(msg);
    };
    sock.onclose = function (e) {
      if (sock !== ws) { return; }
      ws = null;
      stopHeartbeat();
      // The server closes 4401 when the session ended (to the login page if so), 4403 when the
      // user's rights changed: the page reloads with the new ones.
      if (e.code === 4403) { location.reload(); return; }
      if (e.code === 4401) { checkSession(); }
      schedule();
    };
  }
  function schedule() {
    if (navigator.onLine === false) { setStatus("offline"); return; }
    setStatus("reconnecting");
    if (attempt === 3) { checkSession(); }
    const delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt += 1;
    clearTimeout(timer);
    timer = setTimeout(open, delay);
  }
  function handle(msg) {
    if (msg.type === "incident") {
      store.apply(msg.feature, "live");
      if (opts.onMessage) { opts.onMessage(msg); }
    } else if (msg.type === "inbox") {
      if (opts.onInbox) { opts.onInbox(); }  // the user's notifications changed (web/bell.js)
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
        const applied = features.filter(function (f) {
          live.caughtUp.push(f.id);
          const kind = store.apply(f, "catchup");
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
    const sock = ws;
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

const STATUS = {
  open: ["实时", "live"], connecting: ["连接中", "connecting"], reconnecting: ["重连中", "reconnecting"],
  offline: ["离线", "offline"]
};
/* Show the socket's status in the page's #live-status badge; `short`: the Chinese word only (the phone). */
export function showLiveStatus(status, short) {
  const box = document.getElementById("live-status"), label = STATUS[status];
  box.className = "live-status " + status;
  box.querySelector("span").textContent = label ? (short ? label[0] : label.join(" ")) : status;
}
