// The open conversation (middle pane): its live timeline over its own staff socket,
// read marks, the hand-over summary, and the actions (claim, transfer, hand back, close).

import { announce, announced } from "./inbox_alerts.js";
import { clearDraft, conversationHref, saveDraft, state, timeEl } from "./inbox_page.js";
import { connect, el, post, postForm } from "./socket.js";
import { appendNote, followConversation, photoOf } from "./timeline.js";

const timeline = document.getElementById("timeline");
let readTimer = null;
let readSeq = state.last_seq || 0;

export function markRead(seq) {
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

// The words for events come from the server (escalations/labels.py), as the page's own do.
const LABELS = state.labels || { handoff: {}, confirmation: {} };

function label(frame) {
  if (frame.type === "handoff") {
    if (frame.state === "agent_joined") return `${frame.agent_name || "An agent"} joined`;
    return LABELS.handoff[frame.state] || "Hand-off";
  }
  if (frame.type === "confirm_request") return "Asked the customer to confirm a change";
  if (frame.type === "confirm_result") return LABELS.confirmation[frame.status] || "Confirmation answered";
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

export function summaryList(id, summary) {
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
export function openConversation() {
  if (!state.conversation_id) return;
  scrollToNewest();
  live.showRead(state.read_seq || 0);
  for (const item of timeline.querySelectorAll("[data-seq]")) announced.add(`seq-${item.dataset.seq}`);
  conversationSocket = connect(state.socket, { onFrame: live.onFrame, onState() {} });
}

export function conversationSocketNow() {
  return conversationSocket;
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
