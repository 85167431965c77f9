// The transcript: message bubbles with their times and photos, streamed replies, tool
// status lines and notices.

import { renderMarkdown } from "./markdown.js";
import { hideWorking, label, log, scrollDown, send, showWorking, state } from "./page.js";
import { authorHead, renderHeader, showAgentTyping } from "./people.js";
import { LANG, t } from "./text.js";

export function bubble(role, extraClass, turnId) {
  const row = document.createElement("div");
  row.className = `row row-${role}${extraClass ? " " + extraClass : ""}`;
  const body = document.createElement("div");
  body.className = "bubble";
  row.append(body);
  // A turn's reply reads before the confirmation cards it proposed.
  const card = turnId ? log.querySelector(`.confirm-card[data-turn-id="${CSS.escape(turnId)}"]`) : null;
  if (card) card.before(row);
  else log.append(row);
  return { row, body };
}

export function photoImage(url, alt, width, height) {
  const img = document.createElement("img");
  img.className = "photo";
  img.src = url;
  img.alt = alt;
  if (width && height) {
    img.width = width;
    img.height = height;
  }
  return img;
}

function formatTime(date) {
  const today = date.toDateString() === new Date().toDateString();
  const options = today
    ? { hour: "numeric", minute: "2-digit" }
    : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  return date.toLocaleString(LANG, options);
}

// Every message shows its time (the server's created_at), under the bubble.
export function stamp(row, iso) {
  let node = row.querySelector(":scope > time.msg-time");
  if (!node) {
    node = document.createElement("time");
    node.className = "msg-time";
  }
  row.append(node); // after the bubble and its sources
  if (!iso) {
    node.textContent = t("sending");
    return;
  }
  const date = new Date(iso);
  node.dateTime = iso;
  node.textContent = formatTime(date);
  node.title = date.toLocaleString(LANG, { dateStyle: "full", timeStyle: "short" });
}

export function renderMessage(frame) {
  if (frame.role === "customer") {
    if (frame.client_id) {
      state.outbox.delete(frame.client_id);
      const pending = log.querySelector(`[data-client-id="${CSS.escape(frame.client_id)}"]`);
      if (pending) {
        pending.classList.remove("sending");
        pending.dataset.seq = frame.seq;
        stamp(pending, frame.created_at);
        // Stored now: it goes after events the server stored just before it (a new
        // episode's notice, say), in seq order as a reload would show.
        log.append(pending);
        return;
      }
    }
    const { row, body } = bubble("customer");
    row.dataset.seq = frame.seq;
    if (frame.attachment && String(frame.attachment.url).startsWith("/attachments/")) {
      body.append(photoImage(frame.attachment.url, t("photo_you_sent"), frame.attachment.width, frame.attachment.height));
      if (frame.text) body.append(Object.assign(document.createElement("div"), { textContent: frame.text }));
    } else {
      body.textContent = frame.text;
    }
    stamp(row, frame.created_at);
    log.querySelectorAll(".chips").forEach((c) => c.remove());
    scrollDown();
    return;
  }
  if (frame.role === "system") {
    // A new episode: an unanswered rating card belongs to the closed one, which can't be rated now.
    if (frame.notice === "episode") log.querySelectorAll(".rating-card:not(.done)").forEach((c) => c.remove());
    renderNotice(frame.text, frame.retry ? "notice-error" : "", frame.retry);
    return;
  }
  if (frame.role === "agent" && frame.agent_name) {
    state.agentName = frame.agent_name;
    renderHeader();
  }
  if (frame.turn_id) state.finishedTurns.add(frame.turn_id);
  let target = frame.turn_id ? state.streaming.get(frame.turn_id) : null;
  if (!target) {
    target = bubble(frame.role, "", frame.turn_id);
    target.row.prepend(authorHead(frame.role, frame.agent_name));
  }
  if (frame.role === "agent") showAgentTyping(false);
  state.streaming.delete(frame.turn_id);
  target.row.dataset.seq = frame.seq;
  target.row.classList.remove("streaming", "awaiting");
  target.body.replaceChildren(renderMarkdown(frame.text));
  // Citations once: an article the answer already links is not shown again as a chip.
  const linked = (citation) => frame.text.includes(citation.url.split("#")[0]);
  const chips = (frame.citations || []).filter((citation) => !linked(citation));
  if (chips.length) {
    const sources = document.createElement("div");
    sources.className = "sources";
    sources.append(label(t("sources"), "sources-label"));
    for (const citation of chips) {
      const a = document.createElement("a");
      a.textContent = citation.title;
      a.href = citation.url.startsWith("/") ? citation.url : "#";
      a.className = "source-link";
      sources.append(a);
    }
    target.row.append(sources);
  }
  if (frame.offline) target.row.classList.add("offline");
  stamp(target.row, frame.created_at);
  scrollDown();
}

// A turn's reply bubble takes its place when the turn starts, under the question it
// answers: a message the customer sends meanwhile goes below it, as a reload shows it.
export function startTurn(turnId) {
  showWorking(t("assistant_typing"));
  state.startedTurns.add(turnId);
  if (!state.streaming.has(turnId) && !state.finishedTurns.has(turnId)) {
    const target = bubble("assistant", "streaming awaiting", turnId);
    target.row.prepend(authorHead("assistant"));
    target.raw = "";
    state.streaming.set(turnId, target);
  }
}

export function renderDelta(frame) {
  if (state.finishedTurns.has(frame.turn_id)) return; // its stored reply is shown already
  let target = state.streaming.get(frame.turn_id);
  if (!target) {
    target = bubble("assistant", "streaming", frame.turn_id);
    target.row.prepend(authorHead("assistant"));
    target.raw = "";
    // Joined mid-stream (a reload): the start is not here, so begin at the next whole
    // word, after an ellipsis; the stored reply replaces it all when the turn ends.
    target.joinedLate = !state.startedTurns.has(frame.turn_id);
    state.streaming.set(frame.turn_id, target);
  }
  let text = frame.text;
  if (target.joinedLate && !target.raw) {
    const gap = text.search(/\s/);
    if (gap < 0) return;
    text = text.slice(gap).replace(/^\s+/, "");
    if (!text) return;
    target.raw = "… ";
  }
  target.raw = (target.raw || "") + text;
  target.row.classList.remove("awaiting");
  target.body.replaceChildren(renderMarkdown(target.raw));
  scrollDown();
}

export function statusLine(turnId, text) {
  const line = document.createElement("div");
  line.className = "status-line";
  line.textContent = text;
  // Tool activity reads before the reply it leads to.
  const target = turnId ? state.streaming.get(turnId) : null;
  if (target && !target.raw) target.row.before(line);
  else log.append(line);
  scrollDown();
}

export function finishTurn(turnId) {
  hideWorking();
  const target = state.streaming.get(turnId);
  if (target && !target.row.dataset.seq) {
    if (!target.raw) {
      // Nothing was said (a hand-off, an error notice follows): no empty bubble stays.
      target.row.remove();
      state.streaming.delete(turnId);
      return;
    }
    // The stream ended without a stored reply (an error follows, or a hand-off).
    target.row.classList.add("cut");
  }
}

export function renderNotice(text, className, retry) {
  const note = document.createElement("div");
  note.className = `notice ${className || ""}`;
  note.append(document.createTextNode(text));
  if (retry) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "retry";
    button.textContent = t("retry");
    button.addEventListener("click", () => {
      if (send({ type: "retry" })) button.disabled = true;
    });
    note.append(" ", button);
  }
  log.append(note);
  scrollDown();
}

export function renderError(frame) {
  hideWorking();
  if (frame.turn_id) return; // the stored notice with its Retry button follows
  renderNotice(frame.message || t("went_wrong"), "notice-error", false);
}
