/* Actions on an incident: exactly those the server allows the user now (allowed_actions of its
   /context/), as buttons; the form of one (a note, or the reason it needs; the person for a
   reassignment); and the request (POST /api/incidents/{id}/{action}/), which answers the incident. */
import { OUTCOME, PUBLIC_NOTES, ROLE, actionLabel, esc, fmtTime, postJSON } from "web/helpers.js";

/* The buttons of these actions; opts.minor: the actions drawn quieter; opts.label(action): a page's own label. */
export function actionButtonsHtml(actions, opts) {
  opts = opts || {};
  return actions.map(function (a) {
    const label = (opts.label && opts.label(a)) || actionLabel(a);
    return '<button type="button" class="act' + ((opts.minor || []).indexOf(a) >= 0 ? " minor" : "") +
      '" data-action="' + esc(a) + '">' + esc(label) + "</button>";
  }).join("");
}

/* The form of one action: a note (or a reason, required where the action needs one) and, for a
   reassignment, the people the server lets this user choose (the /context/'s reassign_to: the
   handling grid's team, and for an operator the rest of the town). */
const NEEDS_TEXT = {
  report_handled: "处置情况 what was done", rework: "返工原因 why", cancel: "理由 reason",
  out_of_jurisdiction: "理由 reason", escalate: "理由 reason", hand_back: "理由 reason", reassign: "理由 reason",
  return_to_centre: "退单理由 why it is not this grid's", request_extension: "延期理由 why more time is needed",
  status_note: "办理进度 what is being done"
};
/* The placeholder of an action's text: what it asks for, and whether the reporter will read it. */
function textHint(action) {
  return (NEEDS_TEXT[action] ||
      (action === "return_visit" ? "群众意见 what the reporter said (不满意时必填 required when dissatisfied)" : "备注 note (可选 optional)")) +
    (PUBLIC_NOTES.indexOf(action) >= 0 ? " · 公开: 反馈给来源和群众 shown to the reporter" : "");
}
/* The fields an action asks for besides its text (pending: the /context/'s pending_extension). */
function choiceHtml(action, people, pending) {
  if (action === "reassign") { return reassignChoice(people); }
  if (action === "request_extension") {
    return '<label>延期至 new deadline <input type="datetime-local" name="due" required></label>';
  }
  if (action === "decide_extension") {
    return (pending ? '<div class="muted">' + esc(pending.requested_by + ": " + fmtTime(pending.previous_due) + " → " +
      fmtTime(pending.requested_due) + " · " + pending.reason) + "</div>" : "") +
      '<label>决定 decision <select name="approve"><option value="true">批准 approve</option>' +
      '<option value="false">驳回 refuse</option></select></label>';
  }
  if (action === "return_visit") {
    return '<label>回访结果 outcome <select name="outcome">' + Object.keys(OUTCOME).map(function (k) {
      return '<option value="' + esc(k) + '">' + esc(OUTCOME[k]) + "</option>";
    }).join("") + "</select></label>";
  }
  return "";
}
function personOption(m) {
  const role = m.role === "grid_leader" ? "网格长 leader" : (ROLE[m.role] || m.role);
  return '<option value="' + esc(m.person_id) + '">' + esc(m.name + " · " + role + " " + (m.slot || "") +
    (m.on_duty === false ? " (不在岗 off duty)" : "")) + "</option>";
}
/* The 常用语 for the action's note (the /context/'s replies: for this action, or for any): picking one
   puts its words in the note, to be changed or sent as they are. */
function repliesHtml(action, replies) {
  const mine = (replies || []).filter(function (r) { return !r.action || r.action === action; });
  if (!mine.length) { return ""; }
  return '<label class="replies">常用语 <select name="reply"><option value="">— 选择 pick —</option>' +
    mine.map(function (r) { return '<option value="' + esc(r.text) + '">' + esc(r.text) + "</option>"; }).join("") +
    "</select></label>";
}
function reassignChoice(people) {
  people = people || [];
  const team = people.filter(function (m) { return m.team; }), others = people.filter(function (m) { return !m.team; });
  return '<label>改派给 to <select name="person" required>' + team.map(personOption).join("") +
    (others.length ? '<optgroup label="镇内其他 elsewhere in the town">' + others.map(personOption).join("") +
      "</optgroup>" : "") + "</select></label>";
}
function actionFormHtml(action, ctx) {
  ctx = ctx || {};
  const choice = choiceHtml(action, ctx.reassign_to, ctx.pending_extension);
  return '<form class="action-form" data-form="' + esc(action) + '"><div class="form-title">' + esc(actionLabel(action)) +
    "</div>" + choice + repliesHtml(action, ctx.replies) + '<textarea name="text" rows="3" placeholder="' + esc(textHint(action)) +
    '"' + (NEEDS_TEXT[action] ? " required" : "") + '></textarea><div class="form-row"><button type="submit" class="primary">' +
    '确认 confirm</button> <button type="button" data-cancel>取消 cancel</button></div></form>';
}

/* Open the form of `action` under the buttons (.d-actions) in `box`, in place of any other form there;
   `ctx`: the incident's /context/ (reassign_to: whom a reassignment may choose; pending_extension: the
   request a decision is about; replies: the 常用语). */
export function openActionForm(box, action, ctx) {
  const previous = box.querySelector(".action-form");
  if (previous) { previous.remove(); }
  box.querySelector(".d-actions").insertAdjacentHTML("beforeend", actionFormHtml(action, ctx));
  const text = box.querySelector(".action-form textarea");
  const pick = box.querySelector(".action-form select[name=reply]");
  if (pick) {
    pick.addEventListener("change", function () { if (pick.value) { text.value = pick.value; text.focus(); } });
  }
  if (text) { text.focus(); }
}

/* The request body of an action from its form (see incidents/serializers.py). */
function actionBody(form, feature) {
  const action = form.dataset.form, text = form.elements.text.value.trim();
  if (action === "escalate" || action === "hand_back") { return { reason: text }; }
  if (action === "reassign") { return { person: form.elements.person.value, reason: text }; }
  if (action === "return_to_centre") { return { reason: text }; }
  if (action === "request_extension") { return { reason: text, requested_due: new Date(form.elements.due.value).toISOString() }; }
  if (action === "decide_extension") { return { approve: form.elements.approve.value === "true", note: text }; }
  if (action === "return_visit") { return { outcome: form.elements.outcome.value, comment: text }; }
  if (action === "merge") { return { into: feature.properties.possible_duplicate_of, note: text }; }
  return { note: text };
}

/* Send the form's action on incident `id` (its submit button disabled meanwhile), made on `version`
   (the /context/'s: the server refuses it with 412 if the incident has changed since, and the error's
   data then holds the incident as it is now and who changed it); resolve with the incident as it is
   now, reject with the API's error (the button enabled again). */
export function performAction(id, form, feature, version) {
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  const headers = version ? { "If-Match": '"' + version + '"' } : undefined;
  return postJSON("/api/incidents/" + id + "/" + form.dataset.form + "/", actionBody(form, feature), headers).catch(function (err) {
    submit.disabled = false;
    throw err;
  });
}
