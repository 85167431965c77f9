// One conversation in the agent console: the stored history is on the page; new
// events, the bot's streaming text and private notes arrive over the staff socket.
import { insertCanned, reportTyping, sendNotes, sendReplies } from "./composer.js";
import { connect, el, showConnection } from "./socket.js";
import { appendNote, followConversation, photoOf } from "./timeline.js";

const root = document.getElementById("console-conversation");
const state = JSON.parse(document.getElementById("console-state").textContent);
const timeline = document.getElementById("timeline");
let reloading = false;
let socket = null;

function reloadSoon() {
  if (reloading) return;
  reloading = true;
  setTimeout(() => location.reload(), 300);
}

// Labels come from the server (escalations/labels.py), the same as the page's own.
const LABELS = state.labels || { handoff: {}, confirmation: {}, role: {} };

function words(name) {
  const text = String(name || "").replace(/_/g, " ").trim();
  return text ? text[0].toUpperCase() + text.slice(1) : "Event";
}

function whoLabel(frame) {
  if (frame.type === "handoff") return LABELS.handoff[frame.state] || words(frame.state);
  if (frame.type === "confirm_request") return LABELS.confirmation.pending || "Confirmation asked";
  if (frame.type === "confirm_result") return LABELS.confirmation[frame.status] || words(frame.status);
  if (frame.role === "agent") return `${frame.agent_name || "Agent"} (agent)`;
  return LABELS.role[frame.role] || words(frame.role || frame.type);
}

// One time format on the page, in the agent's own time zone: every <time> the server
// rendered, and every event that arrives live.
const TIME_FORMAT = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
function formatTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], TIME_FORMAT);
}

function timeElement(iso) {
  const node = el("time", "", formatTime(iso));
  node.dateTime = iso;
  return node;
}

for (const node of document.querySelectorAll("time[datetime]")) {
  const text = formatTime(node.dateTime);
  if (text) node.textContent = text;
}

function appendEvent(frame) {
  const role = frame.role || "system";
  const kind = frame.type === "message" ? "message" : frame.type;
  const item = el("li", `event role-${role} kind-${kind}`);
  item.dataset.seq = frame.seq;
  const when = el("span", "when", `#${frame.seq} · `);
  if (frame.created_at) when.append(timeElement(frame.created_at));
  item.append(el("span", "who", whoLabel(frame)), when);
  item.append(el("div", "text", frame.text || frame.summary || ""));
  const photo = photoOf(frame);
  if (photo) item.append(photo);
  timeline.append(item);
  scrollToNewest();
}

function afterEvent(frame) {
  if (frame.type === "handoff") {
    document.getElementById("convo-status").textContent = frame.state;
    reloadSoon(); // who may do what has changed: render the page again
  }
}

function onEvent(frame) {
  if (frame.event === "note" && frame.data && frame.data.note) {
    const when = el("span", "when");
    when.append(timeElement(frame.data.note.created_at));
    appendNote(frame.data.note, when);
    return;
  }
  const summary = document.getElementById("summary");
  const card = frame.escalation;
  if (summary && card && card.summary && card.summary.goal && summary.tagName !== "DL") {
    const dl = el("dl");
    dl.id = "summary";
    for (const [label, value] of [
      ["Goal", card.summary.goal],
      ["Tried", (card.summary.tried || []).join("; ") || "Nothing yet"],
      ["Identity", card.summary.identity],
      ["Sentiment", card.summary.sentiment],
      ["Next step", card.summary.next_step],
    ]) {
      dl.append(el("dt", "", label), el("dd", "", value));
    }
    summary.replaceWith(dl);
  }
}

const replyForm = document.getElementById("reply-form");
if (replyForm) {
  const textarea = document.getElementById("reply-text");
  sendReplies(replyForm, textarea);
  reportTyping(replyForm, textarea, () => socket);
  const canned = document.getElementById("canned");
  if (canned) insertCanned(canned, textarea);
}

const noteForm = document.getElementById("note-form");
if (noteForm) sendNotes(noteForm);

// The timeline opens at the newest message, where the agent picks up.
function scrollToNewest() {
  timeline.scrollTop = timeline.scrollHeight;
}

const live = followConversation({
  state,
  appendEvent,
  afterEvent,
  addReceipt: (item) => item.querySelector(".when").after(el("span", "receipt", "✓ Read")),
  onEvent,
  reloadSoon,
});
scrollToNewest();
live.showRead(state.read_seq || 0);
socket = connect(root.dataset.socket, { onFrame: live.onFrame, onState: showConnection });
