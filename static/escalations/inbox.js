// The agents' inbox: a live list of open conversations (queue socket), the open
// conversation (its own staff socket), keyboard shortcuts, alerts and the copilot.
// Text from customers, the model or other agents is only ever set as text.

import { sendNotes } from "./composer.js";
import { announce } from "./inbox_alerts.js";
import { openConversation } from "./inbox_conversation.js";
import { list, listenToQueue, renderList, setView } from "./inbox_list.js";
import { formatTime, saveDraft, state } from "./inbox_page.js";
import { suggestReply, summarise } from "./inbox_reply.js";
import { post } from "./socket.js";

for (const node of document.querySelectorAll("time[datetime]")) {
  node.textContent = formatTime(node.dateTime);
  node.title = new Date(node.dateTime).toLocaleString();
}

listenToQueue();

// --- Presence ------------------------------------------------------------------------

const presence = document.getElementById("presence");

presence.addEventListener("change", async () => {
  const result = await post(state.urls.presence, { status: presence.value });
  document.body.classList.toggle("is-away", result.ok && result.status === "away");
  announce(`presence-${Date.now()}`, `You are ${presence.value === "away" ? "away" : "online"}.`);
});
document.body.classList.toggle("is-away", presence.value === "away");

openConversation();

const noteForm = document.getElementById("note-form");
if (noteForm) sendNotes(noteForm);

// --- Keyboard -------------------------------------------------------------------------------

const help = document.getElementById("help");
document.getElementById("help-open").addEventListener("click", () => help.showModal());

function typingIn(target) {
  const fields = "input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit])";
  return target.closest(`${fields}, textarea, select, [contenteditable=true]`) !== null;
}

function move(step) {
  const links = [...list.querySelectorAll("a.item-link")];
  if (!links.length) return;
  const current = links.findIndex((link) => link.getAttribute("aria-current") === "page");
  const next = current < 0 ? (step > 0 ? 0 : links.length - 1) : current + step;
  if (next < 0 || next >= links.length) return;
  saveDraft();
  location.assign(links[next].href);
}

function click(id) {
  const node = document.getElementById(id);
  if (node && !node.disabled) node.click();
}

function focus(id) {
  const node = document.getElementById(id);
  if (node) node.focus();
}

const KEYS = {
  j: () => move(1),
  k: () => move(-1),
  1: () => setView("queued"),
  2: () => setView("mine"),
  3: () => setView("all"),
  r: () => focus("reply-text"),
  c: () => click("claim"),
  b: () => click("hand-back"),
  e: () => click("close-conversation"),
  t: () => focus("transfer-to"),
  n: () => focus("note-text"),
  "/": () => focus("canned"),
  s: () => suggestReply(),
  m: () => summarise(),
  a: () => {
    presence.value = presence.value === "away" ? "online" : "away";
    presence.dispatchEvent(new Event("change"));
  },
  "?": () => (help.open ? help.close() : help.showModal()),
};

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && typingIn(event.target) && !help.open) {
    event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typingIn(event.target) || (help.open && event.key !== "?")) return;
  const action = KEYS[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

window.addEventListener("beforeunload", saveDraft);
renderList();
