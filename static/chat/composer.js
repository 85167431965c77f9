// The composer: sending a typed message, Enter to send, the box growing with its text,
// and the End chat and New chat buttons.

import { STORE_KEY } from "./connection.js";
import { input, log, scrollDown, send, state } from "./page.js";
import { forgetTyping, noteTyping } from "./people.js";
import { sendPhoto } from "./photos.js";
import { bubble, stamp } from "./transcript.js";

const form = document.getElementById("composer");

export function submitMessage() {
  const text = input.value.trim();
  if (!text && !state.photo) return;
  if (state.photo) {
    sendPhoto(text, state.photo);
    return;
  }
  const clientId = crypto.randomUUID();
  const frame = { type: "message", client_id: clientId, text };
  state.outbox.set(clientId, frame);
  const { row, body } = bubble("customer", "sending");
  row.dataset.clientId = clientId;
  body.textContent = text;
  stamp(row, null);
  log.querySelectorAll(".chips").forEach((c) => c.remove());
  forgetTyping();
  input.value = "";
  autosize();
  scrollDown();
  send(frame);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submitMessage();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitMessage();
  }
});

export function autosize() {
  input.style.height = "auto";
  // Empty again (sent): back to one line, whatever height the last message needed.
  input.style.height = input.value ? `${Math.min(input.scrollHeight, 160)}px` : "";
}
input.addEventListener("input", autosize);
input.addEventListener("input", noteTyping);

document.getElementById("end-chat").addEventListener("click", () => {
  if (state.status !== "closed") send({ type: "end" });
});

document.getElementById("new-chat").addEventListener("click", async () => {
  localStorage.removeItem(STORE_KEY);
  location.reload();
});
