// The composer: sending a typed message, Enter to send, the box growing with its text,
// the suggested first questions, and the End chat and New chat buttons.

import { STORE_KEY, SUGGESTIONS, autosize, input, log, scrollDown, send, state } from "./page.js";
import { forgetTyping, noteTyping } from "./people.js";
import { sendPhoto } from "./photos.js";
import { t } from "./text.js";
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

input.addEventListener("input", autosize);
input.addEventListener("input", noteTyping);

export function renderSuggestions() {
  if (!SUGGESTIONS.length || state.status === "closed") return;
  if (log.querySelector(".row-customer, .chips")) return;
  const chips = document.createElement("div");
  chips.className = "chips";
  chips.setAttribute("role", "group");
  chips.setAttribute("aria-label", t("suggested"));
  for (const text of SUGGESTIONS) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.textContent = text;
    chip.addEventListener("click", () => {
      input.value = text;
      submitMessage();
    });
    chips.append(chip);
  }
  log.append(chips);
  scrollDown();
}

document.getElementById("end-chat").addEventListener("click", () => {
  if (state.status !== "closed") send({ type: "end" });
});

document.getElementById("new-chat").addEventListener("click", async () => {
  localStorage.removeItem(STORE_KEY);
  location.reload();
});
