// The agents' inbox: a live list of open conversations (queue socket), the open
// conversation (its own staff socket), keyboard shortcuts, alerts and the copilot.
// Text from customers, the model or other agents is only ever set as text.
import { insertCanned, reportTyping, sendNotes, sendReplies } from "./composer.js";
import { connect, el, post, postForm, showConnection, waitedText } from "./socket.js";
import { appendNote, followConversation, photoOf } from "./timeline.js";

const state = JSON.parse(document.getElementById("inbox-state").textContent);
const cards = new Map(); // escalation id -> card
const unread = new Map(Object.entries(state.unread || {})); // conversation id -> count
const announced = new Set();
let view = sessionStorage.getItem("inbox-view") || (state.conversation_id ? "all" : "queued");
let knownQueued = null; // ids of queued escalations already seen (null until the first snapshot)

for (const card of state.cards) cards.set(card.id, card);

// --- Time: one format everywhere ------------------------------------------------

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

function timeEl(iso) {
  const node = el("time", "", formatTime(iso));
  node.dateTime = iso;
  node.title = new Date(iso).toLocaleString();
  return node;
}

for (const node of document.querySelectorAll("time[datetime]")) {
  node.textContent = formatTime(node.dateTime);
  node.title = new Date(node.dateTime).toLocaleString();
}

// --- The list -----------------------------------------------------------------------

const list = document.getElementById("conversation-list");
const priorityFilter = document.getElementById("filter-priority");
const ageFilter = document.getElementById("filter-age");
priorityFilter.value = sessionStorage.getItem("inbox-priority") || "0";
ageFilter.value = sessionStorage.getItem("inbox-age") || "0";

function inView(card, which) {
  if (which === "queued") return card.status === "queued";
  if (which === "mine") return card.status === "claimed" && card.claimed_by_id === state.me;
  return true;
}

function visibleCards() {
  const minPriority = Number(priorityFilter.value);
  const minAge = Number(ageFilter.value) * 60000;
  const now = Date.now();
  return [...cards.values()]
    .filter((card) => inView(card, view))
    .filter((card) => card.priority_rank >= minPriority)
    .filter((card) => now - new Date(card.created_at).getTime() >= minAge)
    .sort(
      (a, b) =>
        (a.status === "queued" ? 0 : 1) - (b.status === "queued" ? 0 : 1) ||
        b.priority_rank - a.priority_rank ||
        a.created_at.localeCompare(b.created_at) ||
        a.id - b.id,
    );
}

function conversationHref(id) {
  return state.urls.conversation.replace("00000000-0000-0000-0000-000000000000", id);
}

function listItem(card) {
  const item = el("li", `item status-${card.status}`);
  item.dataset.conversation = card.conversation_id;
  const link = el("a", "item-link");
  link.href = conversationHref(card.conversation_id);
  if (card.conversation_id === state.conversation_id) link.setAttribute("aria-current", "page");
  const top = el("span", "item-top");
  top.append(el("span", `priority priority-${card.priority}`, card.priority));
  top.append(el("span", "item-customer", card.customer));
  const count = Number(unread.get(card.conversation_id) || 0);
  if (count > 0 && card.conversation_id !== state.conversation_id) {
    top.append(el("span", "unread", `${count}`));
    top.lastChild.setAttribute("aria-label", `${count} unread`);
  }
  link.append(top);
  link.append(el("span", "item-reason", card.summary && card.summary.goal ? card.summary.goal : card.reason));
  const meta = el("span", "item-meta");
  const who = card.status === "queued" ? `Waiting #${card.position ?? "?"}` : `With ${card.claimed_by}`;
  meta.append(el("span", "", who), el("span", "waited", waitedText(card.created_at)));
  meta.lastChild.dataset.since = card.created_at;
  link.append(meta);
  item.append(link);
  return item;
}

function renderList() {
  const shown = visibleCards();
  const items = shown.map(listItem);
  if (!items.length) items.push(el("li", "empty", view === "mine" ? "Nothing assigned to you." : "No one is waiting."));
  list.replaceChildren(...items);
  for (const which of ["queued", "mine", "all"]) {
    const n = [...cards.values()].filter((card) => inView(card, which)).length;
    document.querySelector(`[data-count="${which}"]`).textContent = n;
  }
  for (const tab of document.querySelectorAll(".list-tabs .tab")) {
    tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
  }
  const mine = [...cards.values()].filter((card) => inView(card, "mine")).length;
  document.getElementById("my-load").textContent = mine;
  updateTitle();
}

function updateTitle() {
  const queued = [...cards.values()].filter((card) => card.status === "queued").length;
  let unreadMine = 0;
  for (const card of cards.values()) {
    if (inView(card, "mine") && card.conversation_id !== state.conversation_id) {
      unreadMine += Number(unread.get(card.conversation_id) || 0);
    }
  }
  const count = queued + unreadMine;
  const base = document.getElementById("conversation-title")?.textContent.trim() || "Inbox";
  document.title = `${count ? `(${count}) ` : ""}${base} · supportbot`;
}

function setView(which) {
  view = which;
  sessionStorage.setItem("inbox-view", view);
  renderList();
}

for (const tab of document.querySelectorAll(".list-tabs .tab")) {
  tab.addEventListener("click", () => setView(tab.dataset.view));
}
priorityFilter.addEventListener("change", () => {
  sessionStorage.setItem("inbox-priority", priorityFilter.value);
  renderList();
});
ageFilter.addEventListener("change", () => {
  sessionStorage.setItem("inbox-age", ageFilter.value);
  renderList();
});

setInterval(() => {
  for (const cell of list.querySelectorAll(".waited")) cell.textContent = waitedText(cell.dataset.since);
}, 15000);

// --- Alerts: desktop notification, sound, announcement ---------------------------------

const notifyToggle = document.getElementById("notify-toggle");
const soundToggle = document.getElementById("sound-toggle");
soundToggle.checked = localStorage.getItem("inbox-sound") === "on";
soundToggle.addEventListener("change", () => {
  localStorage.setItem("inbox-sound", soundToggle.checked ? "on" : "off");
  if (soundToggle.checked) beep();
});

function alertsOn() {
  return "Notification" in window && Notification.permission === "granted" && localStorage.getItem("inbox-alerts") === "on";
}

function showAlertState() {
  notifyToggle.textContent = `Desktop alerts: ${alertsOn() ? "on" : "off"}`;
  notifyToggle.setAttribute("aria-pressed", String(alertsOn()));
}
notifyToggle.addEventListener("click", async () => {
  if (!("Notification" in window)) {
    notifyToggle.textContent = "Desktop alerts: not supported";
    return;
  }
  if (alertsOn()) {
    localStorage.setItem("inbox-alerts", "off");
  } else {
    localStorage.setItem("inbox-alerts", "on");
    if (Notification.permission !== "granted") await Notification.requestPermission();
  }
  showAlertState();
});
showAlertState();

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch {
    // no audio device: the title and the notification still tell
  }
}

const announcer = document.getElementById("announcer");
function announce(key, text) {
  if (announced.has(key)) return;
  announced.add(key);
  announcer.textContent = text;
}

function newEscalation(card) {
  window.dispatchEvent(new CustomEvent("inbox:new-escalation", { detail: card }));
  announce(`escalation-${card.id}-${card.status}`, `New in the queue: ${card.customer}, ${card.priority} priority.`);
  if (soundToggle.checked) beep();
  if (alertsOn() && document.visibilityState !== "visible") {
    const note = new Notification(`${card.customer} is waiting (${card.priority})`, {
      body: card.reason,
      tag: `escalation-${card.id}`,
    });
    note.onclick = () => {
      window.focus();
      location.assign(conversationHref(card.conversation_id));
    };
  }
}

// --- The queue socket -----------------------------------------------------------------

function onQueueFrame(frame) {
  if (frame.type === "snapshot") {
    cards.clear();
    for (const card of frame.open || frame.escalations) cards.set(card.id, card);
    unread.clear();
    for (const [id, n] of Object.entries(frame.unread || {})) unread.set(id, n);
    const queued = [...cards.values()].filter((card) => card.status === "queued");
    if (knownQueued !== null) {
      for (const card of queued) if (!knownQueued.has(card.id)) newEscalation(card);
    }
    knownQueued = new Set(queued.map((card) => card.id));
    renderList();
    showConnection("live");
    return;
  }
  if (frame.type !== "event") return;
  const card = frame.escalation;
  if (frame.event === "message" && card) {
    if (card.conversation_id === state.conversation_id) {
      markRead(frame.data.seq);
    } else {
      unread.set(card.conversation_id, Number(unread.get(card.conversation_id) || 0) + 1);
      if (card.claimed_by_id === state.me) {
        announce(`msg-${card.conversation_id}-${frame.data.seq}`, `New message from ${card.customer}.`);
        if (soundToggle.checked) beep();
      }
    }
  }
  if (!card) return;
  if (!cards.has(card.id) && (card.status === "queued" || card.status === "claimed")) {
    // A conversation new to this list: the snapshot brings this agent's exact unread count.
    queueSocket.send({ type: "refresh" });
  }
  if (card.status === "queued" || card.status === "claimed") {
    cards.set(card.id, card);
  } else {
    cards.delete(card.id);
  }
  if (card.status === "queued") {
    if (knownQueued && !knownQueued.has(card.id)) newEscalation(card);
    knownQueued?.add(card.id);
  } else {
    knownQueued?.delete(card.id);
  }
  if (frame.event === "transferred" && card.claimed_by_id === state.me && frame.data.to_id === state.me) {
    announce(`transfer-${card.id}-${frame.data.by}`, `${frame.data.by} transferred ${card.customer} to you.`);
    if (soundToggle.checked) beep();
  }
  renderList();
}

// "Live" once the list is the server's (its snapshot), not as soon as the socket opens:
// an escalation the snapshot already holds is not announced as new.
const queueSocket = connect("/ws/agent/", {
  onFrame: onQueueFrame,
  onState(which) {
    if (which === "reconnecting") showConnection(which);
  },
});

// --- Presence ------------------------------------------------------------------------

const presence = document.getElementById("presence");
const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;

presence.addEventListener("change", async () => {
  const result = await post(state.urls.presence, { status: presence.value });
  document.body.classList.toggle("is-away", result.ok && result.status === "away");
  announce(`presence-${Date.now()}`, `You are ${presence.value === "away" ? "away" : "online"}.`);
});
document.body.classList.toggle("is-away", presence.value === "away");

// --- The open conversation ---------------------------------------------------------------

const timeline = document.getElementById("timeline");
let readTimer = null;
let readSeq = state.last_seq || 0;

function markRead(seq) {
  if (!state.conversation_id || typeof seq !== "number") return;
  readSeq = Math.max(readSeq, seq);
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    post(conversationHref(state.conversation_id).replace("/inbox/", "/conversations/") + "read/", { seq: readSeq });
  }, 400);
}

function scrollToNewest() {
  if (timeline) timeline.scrollTop = timeline.scrollHeight;
}

const HANDOFF_LABELS = {
  queued: "Waiting for an agent",
  returned_to_bot: "Handed back to the assistant",
  closed: "Conversation closed",
};
const CONFIRM_LABELS = {
  done: "Change confirmed and made",
  failed: "Confirmed change failed",
  declined: "Customer declined the change",
  expired: "Confirmation expired",
};

function label(frame) {
  if (frame.type === "handoff") {
    if (frame.state === "agent_joined") return `${frame.agent_name || "An agent"} joined`;
    return HANDOFF_LABELS[frame.state] || "Hand-off";
  }
  if (frame.type === "confirm_request") return "Asked the customer to confirm a change";
  if (frame.type === "confirm_result") return CONFIRM_LABELS[frame.status] || "Confirmation answered";
  if (frame.notice) return "Notice to the customer";
  if (frame.role === "agent") return `${frame.agent_name || "Agent"} (agent)`;
  if (frame.role === "assistant") return frame.offline ? "Assistant (offline)" : "Assistant";
  if (frame.role === "customer") return "Customer";
  return "System";
}

function appendEvent(frame) {
  const kind = frame.type === "message" ? (frame.notice ? "notice" : "message") : frame.type;
  const item = el("li", `event role-${frame.role || "system"} kind-${kind}`);
  item.dataset.seq = frame.seq;
  const head = el("div", "event-head");
  head.append(el("span", "who", label(frame)), document.createTextNode(" "));
  head.append(timeEl(frame.created_at || new Date().toISOString()));
  item.append(head, el("div", "text", frame.text || frame.summary || ""));
  const photo = photoOf(frame);
  if (photo) item.append(photo);
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
  timeline.append(item);
  if (atBottom || frame.role === "agent") scrollToNewest();
  if (frame.type === "message" && frame.role !== "agent") {
    announce(`seq-${frame.seq}`, `${label(frame)}: ${frame.text}`);
  }
}

let reloading = false;
function reloadSoon() {
  if (reloading) return;
  reloading = true;
  saveDraft();
  setTimeout(() => location.reload(), 300);
}

function afterEvent(frame) {
  if (frame.role === "agent") live.showRead(state.read_seq || 0);
  markRead(frame.seq);
  if (frame.type === "handoff") reloadSoon(); // who may do what has changed
}

function onConversationEvent(frame) {
  if (frame.event === "note" && frame.data && frame.data.note) {
    appendNote(frame.data.note, timeEl(frame.data.note.created_at));
    return;
  }
  const card = frame.escalation;
  const summary = document.getElementById("summary");
  if (summary && card && card.summary && card.summary.goal && summary.tagName !== "DL") {
    summary.replaceWith(summaryList("summary", card.summary));
  }
  if (["claimed", "transferred", "requeued", "returned", "closed"].includes(frame.event)) reloadSoon();
}

function summaryList(id, summary) {
  const dl = el("dl", "summary");
  dl.id = id;
  for (const [name, value] of [
    ["Goal", summary.goal],
    ["Tried", (summary.tried || []).join("; ") || "Nothing yet"],
    ["Mood", summary.sentiment],
    ["Next step", summary.next_step],
  ]) {
    dl.append(el("dt", "", name), el("dd", "", value));
  }
  return dl;
}

const live = followConversation({
  state,
  appendEvent,
  afterEvent,
  addReceipt: (item) => item.querySelector(".event-head").append(el("span", "receipt", "✓ Seen")),
  onEvent: onConversationEvent,
  reloadSoon,
});
let conversationSocket = null;
if (state.conversation_id) {
  scrollToNewest();
  live.showRead(state.read_seq || 0);
  for (const item of timeline.querySelectorAll("[data-seq]")) announced.add(`seq-${item.dataset.seq}`);
  conversationSocket = connect(state.socket, { onFrame: live.onFrame, onState() {} });
}

// Actions (claim, transfer, hand back, close): one POST each, then the page shows the result.
const actionError = document.getElementById("action-error");
for (const form of document.querySelectorAll("form.js-action")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const result = await postForm(form);
    button.disabled = false;
    if (!result.ok) {
      actionError.textContent = result.message || "That did not work.";
      actionError.hidden = false;
      return;
    }
    if (form.dataset.action === "claim") sessionStorage.setItem("inbox-view", "mine");
    if (form.dataset.action === "claim" || form.dataset.action === "transfer") {
      reloading = true;
      location.reload();
    } else {
      clearDraft();
      reloading = true;
      location.assign(conversationHref(state.conversation_id));
    }
  });
}

// --- The composer ------------------------------------------------------------------------

const replyForm = document.getElementById("reply-form");
const textarea = document.getElementById("reply-text");
const draftKey = `inbox-draft-${state.conversation_id}`;
function saveDraft() {
  if (textarea && textarea.value.trim()) sessionStorage.setItem(draftKey, textarea.value);
}
function clearDraft() {
  sessionStorage.removeItem(draftKey);
}

const suggestionField = document.getElementById("suggestion-id");
const copilotStatus = document.getElementById("copilot-status");
const discardButton = document.getElementById("copilot-discard");

async function discardSuggestion() {
  const id = suggestionField.value;
  if (!id) return;
  suggestionField.value = "";
  discardButton.hidden = true;
  copilotStatus.textContent = "Suggestion discarded.";
  await post(discardButton.dataset.url.replace("/0/", `/${id}/`), {});
}

if (replyForm) {
  const draft = sessionStorage.getItem(draftKey);
  if (draft) textarea.value = draft;
  sendReplies(replyForm, textarea, () => {
    suggestionField.value = "";
    discardButton.hidden = true;
    copilotStatus.textContent = "";
    clearDraft();
  });
  textarea.addEventListener("input", () => {
    if (!textarea.value.trim() && suggestionField.value) discardSuggestion();
  });
  reportTyping(replyForm, textarea, () => conversationSocket);
  insertCanned(document.getElementById("canned"), textarea);
  document.getElementById("copilot-suggest").addEventListener("click", suggestReply);
  discardButton.addEventListener("click", async () => {
    await discardSuggestion();
    textarea.value = "";
    textarea.focus();
  });
}

async function suggestReply() {
  const button = document.getElementById("copilot-suggest");
  if (!button || button.disabled) return;
  if (suggestionField.value) await discardSuggestion();
  button.disabled = true;
  copilotStatus.textContent = "The copilot is writing…";
  const previous = textarea.value;
  textarea.value = "";
  let failed = null;
  try {
    const response = await fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/x-ndjson", "X-CSRFToken": csrf },
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.message || `The server answered ${response.status}.`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line.trim()) continue;
        const frame = JSON.parse(line);
        if (frame.type === "start") suggestionField.value = frame.id;
        else if (frame.type === "delta") textarea.value += frame.text;
        else if (frame.type === "done") textarea.value = frame.text;
        else if (frame.type === "error") failed = frame.message;
      }
    }
  } catch (error) {
    failed = error.message;
  }
  button.disabled = false;
  if (failed) {
    suggestionField.value = "";
    textarea.value = previous;
    copilotStatus.textContent = `No suggestion: ${failed}`;
    return;
  }
  discardButton.hidden = false;
  copilotStatus.textContent = "Suggestion ready: edit it, then send. It is never sent on its own.";
  textarea.focus();
  textarea.setSelectionRange(textarea.value.length, textarea.value.length);
}

const summaryButton = document.getElementById("copilot-summary");
async function summarise() {
  if (!summaryButton) return;
  summaryButton.disabled = true;
  const result = await post(summaryButton.dataset.url, {});
  summaryButton.disabled = false;
  const target = document.getElementById("copilot-summary-result");
  if (!result.ok) {
    target.replaceChildren(el("dt", "", "Summary"), el("dd", "", result.message || "Not available."));
  } else {
    const list = summaryList("copilot-summary-result", result.summary);
    const by = result.source === "model" ? "the model" : "rules (no model answered)";
    list.append(el("dt", "", "Written by"), el("dd", "", by));
    target.replaceWith(list);
    announce(`summary-${result.id}`, `Summary: ${result.summary.goal}. Next step: ${result.summary.next_step}`);
  }
  document.getElementById("copilot-summary-result").hidden = false;
}
summaryButton?.addEventListener("click", summarise);

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
