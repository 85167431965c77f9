// One conversation's live parts, the same on the classic console page and in the inbox:
// the staff socket's frames, the bot's streaming text, the customer typing, read
// receipts, photos and private notes. Each page renders its own events and receipts.
import { el } from "./socket.js";

// A customer's photo: our own signed URL, shown as an image (never as HTML).
export function photoOf(frame) {
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

// A private note that arrived live, unless the page already shows it; `when` is the
// page's own time node.
export function appendNote(note, when) {
  const list = document.getElementById("notes-list");
  if (list.querySelector(`[data-note-id="${note.id}"]`)) return;
  const item = el("li");
  item.dataset.noteId = note.id;
  item.append(el("span", "who", note.author), document.createTextNode(" "), when);
  item.append(el("div", "text", note.text));
  list.append(item);
}

// The conversation's staff socket frames, for a page that gives:
// - state: the page's {last_seq, read_seq, status}, kept up to date here;
// - appendEvent(frame): show one new stored event, then afterEvent(frame) (optional);
// - addReceipt(item): mark one of the agent's messages as read by the customer;
// - onEvent(frame): a staff event (a note, an escalation change);
// - reloadSoon(): render the page again (who may do what has changed).
// Returns onFrame for connect(), and showRead for the page's own first receipts.
export function followConversation({ state, appendEvent, afterEvent, addReceipt, onEvent, reloadSoon }) {
  const timeline = document.getElementById("timeline");
  const typing = document.getElementById("bot-typing");
  const customerTyping = document.getElementById("customer-typing");
  const typingLabel = typing ? typing.querySelector(".who").textContent : "";
  let customerTypingTimer = null;

  function showCustomerTyping(on) {
    if (!customerTyping) return;
    clearTimeout(customerTypingTimer);
    customerTyping.hidden = !on;
    // A lost "stopped" frame (a closed tab) must not leave it on for ever.
    if (on) customerTypingTimer = setTimeout(() => (customerTyping.hidden = true), 6000);
  }

  // Read receipts: the agent's messages the customer has seen (with the chat in view).
  function showRead(seq) {
    if (!timeline) return;
    state.read_seq = Math.max(state.read_seq || 0, seq);
    for (const item of timeline.querySelectorAll("li.role-agent.kind-message")) {
      if (Number(item.dataset.seq) > state.read_seq || item.querySelector(".receipt")) continue;
      addReceipt(item);
    }
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
      typing.querySelector(".who").textContent = typingLabel;
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
    if (afterEvent) afterEvent(frame);
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

  return { onFrame, showRead };
}
