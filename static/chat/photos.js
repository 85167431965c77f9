// Photos: choosing one (checked here, checked again by the server), its preview, and
// uploading it before the message that carries it is sent.

import { autosize, chatEl, input, log, scrollDown, send, state } from "./page.js";
import { t } from "./text.js";
import { bubble, photoImage, renderNotice, stamp } from "./transcript.js";

const MAX_PHOTO_BYTES = Number(chatEl.dataset.maxPhotoBytes) || 8 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];
const photoInput = document.getElementById("photo");
const photoPreview = document.getElementById("photo-preview");

function choosePhoto(file) {
  clearPhoto();
  if (!file) return;
  // Checked here for a quick answer; the server checks again and re-encodes.
  if (!PHOTO_TYPES.includes(file.type)) {
    renderNotice(t("photo_type"), "notice-error", false);
    return;
  }
  if (file.size > MAX_PHOTO_BYTES) {
    renderNotice(t("photo_too_large", { n: Math.floor(MAX_PHOTO_BYTES / 1048576) }), "notice-error", false);
    return;
  }
  state.photo = file;
  document.getElementById("photo-preview-img").src = URL.createObjectURL(file);
  document.getElementById("photo-preview-name").textContent = file.name;
  photoPreview.hidden = false;
  input.focus();
}

function clearPhoto() {
  state.photo = null;
  photoInput.value = "";
  photoPreview.hidden = true;
}

export async function sendPhoto(text, file) {
  const clientId = crypto.randomUUID();
  const { row, body } = bubble("customer", "sending");
  row.dataset.clientId = clientId;
  body.append(photoImage(URL.createObjectURL(file), t("photo_you_sent")));
  if (text) body.append(Object.assign(document.createElement("div"), { textContent: text }));
  stamp(row, null);
  log.querySelectorAll(".chips").forEach((c) => c.remove());
  input.value = "";
  autosize();
  clearPhoto();
  scrollDown();
  const form = new FormData();
  form.append("photo", file);
  let response;
  try {
    response = await fetch(`/api/conversations/${state.conversation.id}/photos/`, {
      method: "POST",
      headers: { Authorization: `Bearer ${state.conversation.token}` },
      body: form,
    });
  } catch (_) {
    response = null;
  }
  if (!response || response.status !== 201) {
    let message = t("photo_failed");
    try {
      message = (await response.json()).error.message || message;
    } catch (_) {
      /* keep the general message */
    }
    // Nothing else is lost: the text goes back into the box.
    row.remove();
    if (text && !input.value) {
      input.value = text;
      autosize();
    }
    renderNotice(message, "notice-error notice-photo", false);
    return;
  }
  const uploaded = await response.json();
  const frame = { type: "message", client_id: clientId, text, attachment_id: uploaded.attachment_id };
  state.outbox.set(clientId, frame);
  send(frame);
}

document.getElementById("attach").addEventListener("click", () => photoInput.click());
photoInput.addEventListener("change", () => choosePhoto(photoInput.files && photoInput.files[0]));
document.getElementById("photo-remove").addEventListener("click", () => {
  clearPhoto();
  input.focus();
});
