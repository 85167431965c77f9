// One conversation in the agent console: the stored history is on the page; new
// events, the bot's streaming text and private notes arrive over the staff socket.
import { connect, el, postForm, showConnection } from "./socket.js";

const root = document.getElementById("console-conversation");
const state = JSON.parse(document.getElementById("console-state").textContent);
const timeline = document.getElementById("timeline");
const typing = document.getElementById("bot-typing");
const customerTyping = document.getElementById("customer-typing");
let customerTypingTimer = null;
let reloading = false;
let socket = null;

// Read receipts: the agent's messages the customer has seen (with the chat in view).
function showRead(seq) {
  state.read_seq = Math.max(state.read_seq || 0, seq);
  for (const item of timeline.querySelectorAll("li.role-agent.kind-message")) {
    if (Number(item.dataset.seq) > state.read_seq || item.querySelector(".receipt")) continue;
    item.querySelector(".when").after(el("span", "receipt", "✓ Read"));
  }
}

function showCustomerTyping(on) {
  clearTimeout(customerTypingTimer);
  customerTyping.hidden = !on;
  // A lost "stopped" frame (closed tab) must not leave it on forever.
  if (on) customerTypingTimer = setTimeout(() => (customerTyping.hidden = true), 6000);
}

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

// A customer's photo: our own signed URL, shown as an image (never as HTML).
function photoOf(frame) {
  if (!frame.attachment || !frame.attachment.url || !frame.attachment.url.startsWith("/attachments/")) return null;
  const link = el("a", "photo-link");
  link.href = frame.attachment.url;
  link.target = "_blank";
  link.rel = "noopener";
  const img = el("img", "photo");
  img.src = frame.attachment.url;
  img.alt = "Photo from the customer";
  link.append(img);
  return link;
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

function onChat(frame) {
  if (frame.type === "typing") {
    if (frame.who === "customer") showCustomerTyping(frame.typing);
    return;
  }
  if (frame.type === "read") {
    showRead(frame.seq);
    return;
  }
  if (frame.type === "delta") {
    typing.hidden = false;
    const text = typing.querySelector(".text");
    text.textContent = (text.textContent || "") + frame.text;
    return;
  }
  if (frame.type === "status") {
    typing.hidden = false;
    typing.querySelector(".who").textContent = `Assistant: ${frame.text}`;
    return;
  }
  if (frame.type === "turn" && frame.state === "ended") {
    typing.hidden = true;
    typing.querySelector(".text").textContent = "";
    typing.querySelector(".who").textContent = "Assistant (typing)";
    return;
  }
  if (typeof frame.seq !== "number" || frame.seq <= state.last_seq) return;
  state.last_seq = frame.seq;
  if (frame.type === "message" && frame.role === "assistant") {
    typing.hidden = true;
    typing.querySelector(".text").textContent = "";
  }
  if (frame.type === "message" && frame.role === "customer") showCustomerTyping(false);
  appendEvent(frame);
  if (frame.type === "handoff") {
    document.getElementById("convo-status").textContent = frame.state;
    reloadSoon(); // who may do what has changed: render the page again
  }
}

function onEvent(frame) {
  if (frame.event === "note" && frame.data && frame.data.note) {
    const note = frame.data.note;
    const list = document.getElementById("notes-list");
    if (list.querySelector(`[data-note-id="${note.id}"]`)) return;
    const item = el("li");
    item.dataset.noteId = note.id;
    item.append(el("span", "who", note.author), document.createTextNode(" "));
    const when = el("span", "when");
    when.append(timeElement(note.created_at));
    item.append(when);
    item.append(el("div", "text", note.text));
    list.append(item);
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

function onFrame(frame) {
  if (frame.type === "snapshot") {
    if (frame.last_seq > state.last_seq || frame.status !== state.status) reloadSoon();
    if (typeof frame.read_seq === "number") showRead(frame.read_seq);
  } else if (frame.type === "chat") {
    onChat(frame.frame);
  } else if (frame.type === "event") {
    onEvent(frame);
  }
}

const replyForm = document.getElementById("reply-form");
if (replyForm) {
  const textarea = document.getElementById("reply-text");
  const error = document.getElementById("reply-error");
  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!textarea.value.trim()) return;
    const button = replyForm.querySelector("button[type=submit]");
    button.disabled = true;
    const result = await postForm(replyForm);
    button.disabled = false;
    if (result.ok) {
      textarea.value = "";
      error.hidden = true;
    } else {
      error.textContent = result.message || "Not sent.";
      error.hidden = false;
    }
    textarea.focus();
  });
  // The customer sees "<agent> is typing…": "typing" at most every 2 s while keys
  // come, "stopped" after 4 s without one, or when the reply is sent.
  let typingSentAt = 0;
  let typingStop = null;
  const stopTyping = () => {
    clearTimeout(typingStop);
    if (typingSentAt && socket) socket.send({ type: "typing", typing: false });
    typingSentAt = 0;
  };
  textarea.addEventListener("input", () => {
    if (!socket) return;
    if (!textarea.value.trim()) return stopTyping();
    if (Date.now() - typingSentAt > 2000) {
      socket.send({ type: "typing", typing: true });
      typingSentAt = Date.now();
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 4000);
  });
  replyForm.addEventListener("submit", stopTyping);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      replyForm.requestSubmit();
    }
  });
  const canned = document.getElementById("canned");
  if (canned) {
    const replies = JSON.parse(document.getElementById("canned-data").textContent);
    canned.addEventListener("change", () => {
      const chosen = replies[Number(canned.value)];
      if (chosen) textarea.value = textarea.value ? `${textarea.value} ${chosen.text}` : chosen.text;
      canned.value = "";
      textarea.focus();
    });
  }
}

const noteForm = document.getElementById("note-form");
if (noteForm) {
  noteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await postForm(noteForm);
    if (result.ok) noteForm.querySelector("textarea").value = "";
  });
}

// The timeline opens at the newest message, where the agent picks up.
function scrollToNewest() {
  timeline.scrollTop = timeline.scrollHeight;
}

scrollToNewest();
showRead(state.read_seq || 0);
socket = connect(root.dataset.socket, { onFrame, onState: showConnection });
