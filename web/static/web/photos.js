/* Evidence photos (处置前后照片) on the pages: the command centre's detail shows an incident's photos
   (thumbnails, a placeholder until the server has made one, a click opens the full size); the phone's
   cards take before / after photos (an input with capture: the camera on a phone). The server checks
   every file, strips its metadata and decides who may attach what when (403/409 come back as text). */
import { csrfToken, errorLine, esc, fmtTime, getJSON } from "web/helpers.js";

const STAGE = { intake: "上报 intake", before: "处置前 before", after: "处置后 after", verify: "核查 verify" };

/* The first page of an incident's photos (newest first); enough for a panel. */
export function loadPhotos(id) {
  return getJSON("/api/incidents/" + id + "/photos/").then(function (page) { return page.results; });
}

export function photosHtml(photos) {
  if (photos == null) { return "…"; }
  if (!photos.length) { return '<p class="muted">无照片 no photos</p>'; }
  return '<ul class="photos">' + photos.map(function (ph) {
    const img = ph.thumbnail_url
      ? '<img src="' + esc(ph.thumbnail_url) + '" alt="' + esc(STAGE[ph.stage] || ph.stage) + '" loading="lazy">'
      : '<span class="photo-wait">缩略图生成中 thumbnail coming</span>';
    const far = ph.far_from_incident
      ? ' <span class="badge late" title="照片位置 ' + esc(Math.round(ph.claimed_distance_m)) + ' m">位置偏远 far</span>' : "";
    return '<li class="photo" data-photo-id="' + esc(ph.id) + '" data-stage="' + esc(ph.stage) + '"><a href="' +
      esc(ph.file_url) + '" target="_blank" rel="noopener" title="原图 full size">' + img + "</a><span>" +
      esc(STAGE[ph.stage] || ph.stage) + far + "<br>" + esc(ph.uploaded_by_label) + " " + esc(fmtTime(ph.created_at)) +
      "</span></li>";
  }).join("") + "</ul>";
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

/* Upload whatever a photo input of ``root`` is given, and say how it went next to it. */
export function wirePhotoInputs(root) {
  root.addEventListener("change", function (e) {
    const input = e.target.closest("input[data-photo-stage]");
    if (!input || !input.files.length) { return; }
    say(input, "上传中 uploading…", false);
    uploadPhotos(input.dataset.incident, input.dataset.photoStage, input.files).then(function (rows) {
      say(input, "已上传 uploaded " + rows.length + " (" + STAGE[input.dataset.photoStage] + ")", true);
      input.value = "";
    }).catch(function (err) {
      say(input, errorLine(err), false);
      input.value = "";
    });
  });
}
