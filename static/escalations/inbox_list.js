// The list of open conversations (left pane): tabs, filters, unread counts and the page
// title, kept live by the queue socket.

import { announce, beep, newEscalation, soundToggle } from "./inbox_alerts.js";
import { markRead } from "./inbox_conversation.js";
import { conversationHref, state } from "./inbox_page.js";
import { connect, el, showConnection, waitedText } from "./socket.js";

const cards = new Map(); // escalation id -> card
const unread = new Map(Object.entries(state.unread || {})); // conversation id -> count

let view = sessionStorage.getItem("inbox-view") || (state.conversation_id ? "all" : "queued");
let knownQueued = null; // ids of queued escalations already seen (null until the first snapshot)

for (const card of state.cards) cards.set(card.id, card);

export const list = document.getElementById("conversation-list");
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

export function renderList() {
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

export function setView(which) {
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

// "Live" once the list is the server's (its snapshot), not as soon as the socket opens:
// an escalation the snapshot already holds is not announced as new.
let queueSocket = null;
export function listenToQueue() {
  queueSocket = connect("/ws/agent/", {
    onFrame: onQueueFrame,
    onState(which) {
      if (which === "reconnecting") showConnection(which);
    },
  });
}
