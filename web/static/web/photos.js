/* Evidence photos (处置前后照片) on the pages: an incident's photos as thumbnails grouped by stage (a
   placeholder until the server has made one); a tap opens the viewer over the page (the full size, its
   stage, who and when, the previous and next photo, the original in a new tab), the same on the phone's
   cards and in the command centre's detail. The phone's cards take before / after photos (an input with
   capture: the camera on a phone). The server checks every file, strips its metadata and decides who may
   see and attach what when (403/409 come back as text). */
import { csrfToken, errorLine, esc, fmtTime, getJSON } from "web/helpers.js";

const STAGE = { intake: "上报 intake", before: "处置前 before", after: "处置后 after", verify: "核查 verify" };
const STAGES = ["intake", "before", "after", "verify"];

/* The first page of an incident's photos (newest first); enough for a panel or a card. */
export function loadPhotos(id) {
  return getJSON("/api/incidents/" + id + "/photos/").then(function (page) { return page.results; });
}

/* The photos drawn last under each key (an incident's id): what a tap on one of them opens in the viewer. */
const shown = new Map();

/* The photos in stage order (上报, 处置前, 处置后, 核查), oldest first within a stage: the viewer's order. */
function inOrder(photos) {
  return photos.slice().sort(function (a, b) {
    return (STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage)) || (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id);
  });
}

function caption(ph) {
  const far = ph.far_from_incident
    ? ' <span class="badge late" title="照片位置 ' + esc(Math.round(ph.claimed_distance_m)) + ' m">位置偏远 far</span>' : "";
  return esc(STAGE[ph.stage] || ph.stage) + far + "<br>" + esc(ph.uploaded_by_label) + " " + esc(fmtTime(ph.created_at));
}

/* The thumbnails of ``photos`` (null: loading), grouped by stage, for the incident ``key``. */
export function photosHtml(photos, key) {
  if (photos == null) { return "…"; }
  if (!photos.length) { return '<p class="muted">无照片 no photos</p>'; }
  const ordered = inOrder(photos);
  shown.set(String(key), ordered);
  return '<div class="photo-groups" data-photos-key="' + esc(key) + '">' + STAGES.concat(
    ordered.map(function (ph) { return ph.stage; }).filter(function (st) { return STAGES.indexOf(st) < 0; })
  ).filter(function (st, i, all) { return all.indexOf(st) === i; }).map(function (stage) {
    const group = ordered.filter(function (ph) { return ph.stage === stage; });
    if (!group.length) { return ""; }
    return '<div class="photo-group" data-stage="' + esc(stage) + '"><h5>' + esc(STAGE[stage] || stage) + " (" + group.length +
      ')</h5><ul class="photos">' + group.map(function (ph) {
        const img = ph.thumbnail_url
          ? '<img src="' + esc(ph.thumbnail_url) + '" alt="' + esc(STAGE[ph.stage] || ph.stage) + '" loading="lazy">'
          : '<span class="photo-wait">缩略图生成中 thumbnail coming</span>';
        return '<li class="photo" data-photo-id="' + esc(ph.id) + '" data-stage="' + esc(ph.stage) + '">' +
          '<button type="button" class="photo-open" data-photo-index="' + ordered.indexOf(ph) + '" title="查看 view">' + img +
          "</button><span>" + caption(ph) + "</span></li>";
      }).join("") + "</ul></div>";
  }).join("") + "</div>";
}

/* ---- the viewer: one overlay for the page ---- */
let viewer = null;
function viewerBox() {
  if (viewer) { return viewer; }
  viewer = document.createElement("div");
  viewer.className = "photo-viewer";
  viewer.hidden = true;
  viewer.setAttribute("role", "dialog");
  viewer.setAttribute("aria-modal", "true");
  viewer.setAttribute("aria-label", "照片 photo");
  viewer.innerHTML = '<div class="pv-frame"><img class="pv-img" alt=""><p class="pv-caption"></p>' +
    '<div class="pv-bar"><button type="button" class="pv-prev" data-pv="prev" title="上一张 previous">‹</button>' +
    '<span class="pv-count"></span><button type="button" class="pv-next" data-pv="next" title="下一张 next">›</button>' +
    '<a class="pv-full" target="_blank" rel="noopener">原图 full size</a>' +
    '<button type="button" class="pv-close" data-pv="close" title="关闭 close (Esc)">×</button></div></div>';
  viewer.addEventListener("click", function (e) {
    const b = e.target.closest("[data-pv]");
    if (b) { step(b.dataset.pv); } else if (e.target === viewer) { step("close"); }
  });
  document.addEventListener("keydown", function (e) {
    if (viewer.hidden) { return; }
    if (e.key === "Escape") { step("close"); } else if (e.key === "ArrowLeft") { step("prev"); } else if (e.key === "ArrowRight") { step("next"); }
  });
  document.body.appendChild(viewer);
  return viewer;
}
function show() {
  const v = viewer, photos = v._photos, i = v._index, ph = photos[i];
  v.dataset.index = String(i);
  v.dataset.photoId = String(ph.id);
  v.querySelector(".pv-img").src = ph.file_url;
  v.querySelector(".pv-img").alt = STAGE[ph.stage] || ph.stage;
  v.querySelector(".pv-caption").innerHTML = caption(ph);
  v.querySelector(".pv-count").textContent = (i + 1) + " / " + photos.length;
  v.querySelector(".pv-full").href = ph.file_url;
  v.querySelector(".pv-prev").disabled = i === 0;
  v.querySelector(".pv-next").disabled = i === photos.length - 1;
}
function step(what) {
  const v = viewer;
  if (what === "close") { v.hidden = true; v._photos = null; if (v._back) { v._back.focus(); } return; }
  const i = v._index + (what === "next" ? 1 : -1);
  if (i < 0 || i >= v._photos.length) { return; }
  v._index = i;
  show();
}
/* Open the viewer on photo ``index`` of ``photos`` (the order of ``photosHtml``). */
export function openViewer(photos, index, back) {
  const v = viewerBox();
  v._photos = photos;
  v._index = index;
  v._back = back || null;
  show();
  v.hidden = false;
  v.querySelector(".pv-close").focus();
}
/* A tap on a thumbnail under ``root`` opens the viewer on it (the phone's inbox, the command centre's detail). */
export function wirePhotoViewer(root) {
  root.addEventListener("click", function (e) {
    const b = e.target.closest(".photo-open");
    const group = b && b.closest("[data-photos-key]");
    const photos = group && shown.get(group.dataset.photosKey);
    if (!photos) { return; }
    e.preventDefault();
    openViewer(photos, Number(b.dataset.photoIndex), b);
  });
}

/* The phone card's photo inputs: shown while the incident is being handled; the server decides. */
const TAKES_PHOTOS = ["dispatched", "in_progress", "handled"];
export function photoInputsHtml(f) {
  if (TAKES_PHOTOS.indexOf(f.properties.state) < 0) { return ""; }
  function input(stage) {
    return '<label class="photo-take">' + esc(STAGE[stage]) + ' 拍照 <input type="file" accept="image/*" capture="environment" ' +
      'data-photo-stage="' + stage + '" data-incident="' + esc(f.id) + '"></label>';
  }
  const st = statuses.get(String(f.id)) || { text: "", ok: "" };
  return '<div class="photo-inputs">' + input("before") + input("after") + '<span class="photo-status" role="status" data-ok="' +
    st.ok + '">' + esc(st.text) + "</span></div>";
}
/* The last upload's outcome per incident: kept here, since the card is drawn again when the incident changes
   (and attaching a photo changes it). */
const statuses = new Map();
function say(input, text, ok) {
  statuses.set(input.dataset.incident, { text: text, ok: ok ? "1" : "" });
  /* the card may have been drawn again meanwhile: its status now, not the one the input was in */
  const now = document.querySelector('input[data-photo-stage][data-incident="' + CSS.escape(input.dataset.incident) + '"]');
  const status = now ? now.closest(".photo-inputs").querySelector(".photo-status") : null;
  if (status) { status.textContent = text; status.dataset.ok = ok ? "1" : ""; }
}

export function uploadPhotos(id, stage, files) {
  const body = new FormData();
  body.append("stage", stage);
  Array.prototype.forEach.call(files, function (file) { body.append("photos", file); });
  return fetch("/api/incidents/" + id + "/photos/", {
    method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" }
  }).then(function (r) {
    return r.json().catch(function () { return null; }).then(function (data) {
      if (r.ok) { return data; }
      const err = new Error(data && (data.detail || (data.photos || []).join(" ") || JSON.stringify(data)) || r.statusText);
      err.status = r.status;
      throw err;
    });
  });
}

/* Upload whatever a photo input of ``root`` is given, and say how it went next to it; ``uploaded(id)``
   after each upload that went through (the card then shows its photos again). */
export function wirePhotoInputs(root, uploaded) {
  root.addEventListener("change", function (e) {
    const input = e.target.closest("input[data-photo-stage]");
    if (!input || !input.files.length) { return; }
    say(input, "上传中 uploading…", false);
    uploadPhotos(input.dataset.incident, input.dataset.photoStage, input.files).then(function (rows) {
      say(input, "已上传 uploaded " + rows.length + " (" + STAGE[input.dataset.photoStage] + ")", true);
      input.value = "";
      if (uploaded) { uploaded(Number(input.dataset.incident)); }
    }).catch(function (err) {
      say(input, errorLine(err), false);
      input.value = "";
    });
  });
}
