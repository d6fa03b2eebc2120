/* The phone's own database (IndexedDB, kept while offline and across reloads): the patrol's track
   points (web/patrol.js) and the changes waiting for the network (web/offline.js). One place opens it,
   so its stores are created in one upgrade. */
const NAME = "gridops-phone";
const VERSION = 2;

export function db() {
  return new Promise(function (resolve, reject) {
    const open = indexedDB.open(NAME, VERSION);
    open.onupgradeneeded = function () {
      const d = open.result;
      if (!d.objectStoreNames.contains("points")) { d.createObjectStore("points", { keyPath: "seq", autoIncrement: true }); }
      if (!d.objectStoreNames.contains("requests")) { d.createObjectStore("requests", { keyPath: "seq", autoIncrement: true }); }
    };
    open.onsuccess = function () { resolve(open.result); };
    open.onerror = function () { reject(open.error); };
  });
}

/* Run ``work(store)`` in a transaction on ``store``; resolve with what its request gave, once committed. */
export function tx(store, mode, work) {
  return db().then(function (d) {
    return new Promise(function (resolve, reject) {
      const t = d.transaction(store, mode);
      const out = work(t.objectStore(store));
      t.oncomplete = function () { resolve(out && "result" in out ? out.result : undefined); };
      t.onerror = function () { reject(t.error); };
    });
  });
}

/* Forget everything (logging out: the next person on this phone sees none of it). */
export function wipe() {
  return new Promise(function (resolve) {
    const del = indexedDB.deleteDatabase(NAME);
    del.onsuccess = del.onerror = del.onblocked = function () { resolve(); };
  });
}
