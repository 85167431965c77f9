// The customer chat page: one WebSocket, stored events replayed by seq,
// streamed replies, confirmation cards, hand-off notices, auto-reconnect.
import { renderMarkdown } from "./markdown.js";

const STORE_KEY = "supportbot.conversation";
const chatEl = document.getElementById("chat");
const EMBEDDED = chatEl.dataset.embedded === "true";
// In the messenger frame the store passes a signed identity token in the fragment.
const IDENTITY = EMBEDDED ? new URLSearchParams(location.hash.slice(1)).get("identity") || "" : "";
const ASSISTANT_NAME = chatEl.dataset.assistantName || "Assistant";
const LANG = document.documentElement.lang || undefined;
const SUGGESTIONS = JSON.parse(document.getElementById("suggestions").textContent || "[]");
// The page's words in the customer's language (Django i18n, apps/chat/ui_text.py).
const UI_TEXT = JSON.parse(document.getElementById("ui-text").textContent || "{}");
export function t(key, values = {}) {
  return String(UI_TEXT[key] || key).replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}
const log = document.getElementById("log");
const form = document.getElementById("composer");
const input = document.getElementById("input");
const banner = document.getElementById("banner");
const working = document.getElementById("working");
const workingText = document.getElementById("working-text");

const state = {
  conversation: null, // {id, token}
  socket: null,
  lastSeq: 0,
  seen: new Set(), // seqs already rendered
  outbox: new Map(), // client_id -> message frame, until the server echoes it
  photo: null, // the File chosen to send with the next message
  streaming: new Map(), // turn_id -> bubble element
  retryDelay: 500,
  reconnectTimer: null,
  status: "bot",
  csatScore: null, // the closed episode's stored rating, from the session frame
  identityRefused: false, // the store's token was forged or expired: chatting as a guest
  agentName: null, // who has the chat while status is "agent"
  visible: !EMBEDDED, // the conversation is in view (the messenger says when its panel is open)
  readSent: 0, // the last seq reported read
  typingSentAt: 0, // when "typing" was last sent; 0: not typing
  // Until the server answers `resume`, live frames wait here: shown before the replay,
  // a streamed answer would land above the question it answers.
  resuming: false,
  liveQueue: [],
  startedTurns: new Set(), // turns this page saw begin: their whole stream is here
  finishedTurns: new Set(), // turns whose stored reply is shown: late deltas are ignored
};
const listeners = [];

// For the messenger frame (embed.js): every frame after it is handled, and the state.
export function onFrame(listener) {
  listeners.push(listener);
}
export function chatState() {
  return { conversationId: state.conversation && state.conversation.id, lastSeq: state.lastSeq, status: state.status };
}

// Whose chat a stored conversation is: the token's subject, read without trusting it
// (the server checks the signature). A different shopper on this browser, or a
// signed-in shopper who signed out, starts a new conversation rather than reading
// someone else's.
function identitySubject(token) {
  if (!token) return "";
  try {
    const payload = token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    const body = JSON.parse(atob(payload + "===".slice((payload.length + 3) % 4)));
    return typeof body.sub === "string" ? body.sub : "?";
  } catch (_) {
    return "?";
  }
}

// --- Conversation and socket ----------------------------------------------------

function loadConversation() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && saved.id && saved.token && (saved.identity || "") === identitySubject(IDENTITY)) return saved;
  } catch (_) {
    /* a corrupt entry is replaced below */
  }
  return null;
}

async function createConversation() {
  let response;
  if (IDENTITY) {
    response = await fetch("/api/conversations/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ identity: IDENTITY }),
    });
    if (response.status === 400) {
      // A forged or expired token is refused; the shopper still chats, unverified.
      state.identityRefused = true;
      response = null;
    }
  }
  if (!response) response = await fetch("/api/conversations/", { method: "POST" });
  if (!response.ok) throw new Error(`could not start a conversation (${response.status})`);
  const body = await response.json();
  const conversation = { id: body.conversation_id, token: body.token, identity: identitySubject(IDENTITY) };
  localStorage.setItem(STORE_KEY, JSON.stringify(conversation));
  return conversation;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const { id, token } = state.conversation;
  return `${scheme}://${location.host}/ws/chat/${id}/?token=${encodeURIComponent(token)}`;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  const socket = new WebSocket(socketUrl());
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.retryDelay = 500;
    state.failedOpens = 0;
    socket.opened = true;
    showBanner(null);
    state.resuming = true;
    state.liveQueue = [];
    send({ type: "resume", last_seq: state.lastSeq });
    for (const frame of state.outbox.values()) send(frame);
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    handle(frame);
  });
  socket.addEventListener("close", async (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    state.resuming = false;
    state.liveQueue = [];
    if (!socket.opened) {
      // A socket that never opened is a refusal only if the server itself answers;
      // while it restarts, failed opens say nothing about the conversation.
      state.failedOpens = (await serverAnswers()) ? (state.failedOpens || 0) + 1 : 0;
    }
    scheduleReconnect();
  });
}

async function scheduleReconnect() {
  showBanner(t("connection_lost"));
  const delay = Math.min(state.retryDelay, 15000) * (0.75 + Math.random() * 0.5);
  state.retryDelay = Math.min(state.retryDelay * 2, 15000);
  state.reconnectTimer = setTimeout(async () => {
    if (!(await conversationStillValid())) return;
    connect();
  }, delay);
}

async function conversationStillValid() {
  // A socket refused before accept looks like a network error in the browser. After
  // a few refusals in a row, if the server itself answers, the stored conversation
  // is no longer valid (its token is wrong or it was deleted): start a new one.
  if ((state.failedOpens || 0) < 3) return true;
  if (!(await serverAnswers())) return true; // down again: keep the same conversation
  localStorage.removeItem(STORE_KEY);
  state.conversation = await createConversation();
  state.lastSeq = 0;
  state.seen.clear();
  state.failedOpens = 0;
  log.replaceChildren();
  renderNotice(t("resume_failed"), "", false);
  return true;
}

async function serverAnswers() {
  try {
    const probe = await fetch("/", { method: "HEAD", cache: "no-store" });
    return probe.ok;
  } catch (_) {
    return false;
  }
}

function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

// --- Frames -------------------------------------------------------------------------

function handle(frame) {
  if (state.resuming && !frame.replay && frame.type !== "session" && frame.type !== "resumed") {
    state.liveQueue.push(frame);
    return;
  }
  if (typeof frame.seq === "number") {
    if (state.seen.has(frame.seq)) return;
    state.seen.add(frame.seq);
    state.lastSeq = Math.max(state.lastSeq, frame.seq);
  }
  switch (frame.type) {
    case "session":
      // A closed chat keeps the name of the person who had it (the replay sets it).
      if (frame.agent_name || frame.status !== "closed") state.agentName = frame.agent_name || null;
      if (frame.status) setStatus(frame.status);
      state.csatScore = typeof frame.csat_score === "number" ? frame.csat_score : null;
      showSignedIn(frame.verified && frame.customer_name);
      break;
    case "resumed": {
      // The replayed close re-offers the rating card; once rated, it only says thanks.
      if (state.status === "closed" && state.csatScore !== null) markRated(state.csatScore);
      state.resuming = false;
      const queued = state.liveQueue;
      state.liveQueue = [];
      for (const live of queued) handle(live);
      renderSuggestions();
      markReadSoon();
      break;
    }
    case "message":
      renderMessage(frame);
      break;
    case "delta":
      renderDelta(frame);
      break;
    case "status":
      showWorking(frame.text);
      statusLine(frame.turn_id, frame.text);
      break;
    case "turn":
      if (frame.state === "started") startTurn(frame.turn_id);
      else finishTurn(frame.turn_id);
      break;
    case "confirm_request":
      renderConfirm(frame);
      break;
    case "confirm_result":
      renderConfirmResult(frame);
      break;
    case "handoff":
      renderHandoff(frame);
      break;
    case "error":
      renderError(frame);
      break;
    case "rated":
      markRated(frame.score);
      break;
    case "typing":
      if (frame.who === "agent") showAgentTyping(frame.typing, frame.agent_name);
      break;
    default:
      break;
  }
  if (typeof frame.seq === "number") markReadSoon();
  for (const listener of listeners) listener(frame);
}

// --- Names, avatars, times -------------------------------------------------------

function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : words[0][0];
  return letters.toUpperCase();
}

const AVATAR_COLORS = ["#0b7a3e", "#8a3ffc", "#b3261e", "#00639b", "#7c5800", "#a0306e"];
function colorFor(name) {
  let hash = 0;
  for (const ch of String(name || "")) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return AVATAR_COLORS[hash % AVATAR_COLORS.length];
}

function avatar(role, name) {
  const node = document.createElement("span");
  node.className = `avatar avatar-${role}`;
  node.setAttribute("aria-hidden", "true");
  node.textContent = role === "assistant" ? "AI" : initials(name);
  if (role === "agent") node.style.background = colorFor(name);
  return node;
}

function authorHead(role, name) {
  const head = document.createElement("div");
  head.className = "msg-head";
  const text = role === "agent" ? (name ? t("agent_label", { name }) : t("support_team")) : t("ai_label", { name: ASSISTANT_NAME });
  head.append(avatar(role, name), label(text));
  return head;
}

function formatTime(date) {
  const today = date.toDateString() === new Date().toDateString();
  const options = today
    ? { hour: "numeric", minute: "2-digit" }
    : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  return date.toLocaleString(LANG, options);
}

// Every message shows its time (the server's created_at), under the bubble.
function stamp(row, iso) {
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

// --- Header: the assistant, or the agent who has the chat ---------------------------

function renderHeader() {
  const header = document.getElementById("agent-header");
  // A person has the chat, or had it when it was closed: the header names them, not the AI.
  const withAgent = state.status === "agent" || (state.status === "closed" && Boolean(state.agentName));
  header.hidden = !withAgent;
  document.getElementById("disclosure").hidden = withAgent;
  if (withAgent) {
    const name = state.agentName || t("support_team");
    header.querySelector(".avatar").replaceWith(avatar("agent", state.agentName || "Support team"));
    document.getElementById("agent-header-name").textContent = name;
    header.querySelector(".agent-role").textContent =
      state.status === "closed" ? t("support_team_closed") : t("support_team");
  }
}

// --- Typing and read ----------------------------------------------------------------

let agentTypingTimer = null;
function showAgentTyping(typing, name) {
  clearTimeout(agentTypingTimer);
  if (!typing) {
    hideWorking();
    return;
  }
  showWorking(t("typing", { name: name || t("support_team") }));
  // A lost "stopped" frame must not leave it on.
  agentTypingTimer = setTimeout(hideWorking, 6000);
}

// "typing" at most every 2.5 s while keys come; "stopped" 4 s after the last one.
let typingStopTimer = null;
function noteTyping() {
  if (!input.value.trim()) return stopTyping();
  const now = Date.now();
  if (now - state.typingSentAt > 2500 && send({ type: "typing", typing: true })) state.typingSentAt = now;
  clearTimeout(typingStopTimer);
  typingStopTimer = setTimeout(stopTyping, 4000);
}
function stopTyping() {
  clearTimeout(typingStopTimer);
  if (state.typingSentAt) send({ type: "typing", typing: false });
  state.typingSentAt = 0;
}

// The agent sees "Read" once the customer has had the chat in view.
let readTimer = null;
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (!state.visible || document.visibilityState !== "visible") return;
    if (state.lastSeq > state.readSent && send({ type: "read", seq: state.lastSeq })) {
      state.readSent = state.lastSeq;
    }
  }, 250);
}
document.addEventListener("visibilitychange", markReadSoon);
document.addEventListener("supportbot:visible", (event) => {
  state.visible = Boolean(event.detail && event.detail.visible);
  markReadSoon();
});

// --- Suggested first questions ------------------------------------------------------

function renderSuggestions() {
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

function showSignedIn(name) {
  const line = document.getElementById("signed-in");
  line.hidden = !name;
  line.textContent = name ? t("signed_in", { name }) : "";
}

function bubble(role, extraClass, turnId) {
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

function label(text, className) {
  const el = document.createElement("div");
  el.className = className || "who";
  el.textContent = text;
  return el;
}

function renderMessage(frame) {
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
function startTurn(turnId) {
  showWorking(t("assistant_typing"));
  state.startedTurns.add(turnId);
  if (!state.streaming.has(turnId) && !state.finishedTurns.has(turnId)) {
    const target = bubble("assistant", "streaming awaiting", turnId);
    target.row.prepend(authorHead("assistant"));
    target.raw = "";
    state.streaming.set(turnId, target);
  }
}

function renderDelta(frame) {
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

function statusLine(turnId, text) {
  const line = document.createElement("div");
  line.className = "status-line";
  line.textContent = text;
  // Tool activity reads before the reply it leads to.
  const target = turnId ? state.streaming.get(turnId) : null;
  if (target && !target.raw) target.row.before(line);
  else log.append(line);
  scrollDown();
}

function finishTurn(turnId) {
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

function renderNotice(text, className, retry) {
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

function renderError(frame) {
  hideWorking();
  if (frame.turn_id) return; // the stored notice with its Retry button follows
  renderNotice(frame.message || t("went_wrong"), "notice-error", false);
}

function renderConfirm(frame) {
  const card = document.createElement("div");
  card.className = "confirm-card";
  card.dataset.actionId = frame.action_id;
  if (frame.turn_id) card.dataset.turnId = frame.turn_id;
  card.append(label(t("confirm_title"), "confirm-title"));
  const summary = document.createElement("p");
  summary.textContent = frame.summary;
  card.append(summary);
  const rows = detailRows(frame.details || {});
  if (rows.length) {
    const dl = document.createElement("dl");
    for (const [term, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dl.append(dt, dd);
    }
    card.append(dl);
  }
  const actions = document.createElement("div");
  actions.className = "confirm-actions";
  const approve = document.createElement("button");
  approve.type = "button";
  approve.className = "approve";
  approve.textContent = t("confirm");
  const decline = document.createElement("button");
  decline.type = "button";
  decline.className = "decline";
  decline.textContent = t("decline"); // not "Cancel": on a cancel-order card that reads as yes
  for (const [button, decision] of [[approve, "approve"], [decline, "decline"]]) {
    button.addEventListener("click", () => {
      if (send({ type: "confirm", action_id: frame.action_id, decision })) {
        approve.disabled = true;
        decline.disabled = true;
        card.classList.add("deciding");
      }
    });
  }
  actions.append(approve, decline);
  card.append(actions);
  log.append(card);
  scrollDown();
  approve.focus({ preventScroll: true });
}

// The card's figures in the customer's words. Only these are shown: the rest is internal
// detail (ids, tool names) that the summary already says in words.
const money = (value) => (typeof value === "number" ? `$${value.toFixed(2)}` : String(value));
const present = (value) => value !== null && value !== undefined && value !== "" && typeof value !== "object";

function detailRows(details) {
  const rows = [];
  if (present(details.order_id)) rows.push([t("row_order"), String(details.order_id)]);
  const before = details.status_before;
  const after = details.status_after;
  if (present(before) && present(after) && before !== after) rows.push([t("row_status"), `${before} → ${after}`]);
  if (present(details.reason)) rows.push([t("row_reason"), String(details.reason)]);
  if (present(details.refund_total)) rows.push([t("row_refund"), money(details.refund_total)]);
  if (present(details.price_difference)) rows.push([t("row_price_difference"), money(details.price_difference)]);
  return rows;
}

function renderConfirmResult(frame) {
  const card = log.querySelector(`.confirm-card[data-action-id="${CSS.escape(frame.action_id || "")}"]`);
  if (card) {
    card.classList.remove("deciding");
    card.classList.add(`state-${frame.status}`);
    card.querySelectorAll("button").forEach((b) => (b.disabled = true));
    const outcome = document.createElement("p");
    outcome.className = "confirm-outcome";
    outcome.textContent = frame.text;
    card.append(outcome);
  } else {
    renderNotice(frame.text, "", false);
  }
  scrollDown();
}

const HANDOFF_TEXT = {
  queued: t("queued"),
  agent_joined: "joined the chat.",
  returned_to_bot: t("returned_to_bot"),
  closed: t("closed"),
};

function renderHandoff(frame) {
  if (frame.state === "agent_joined") state.agentName = frame.agent_name || null;
  if (frame.state === "returned_to_bot") state.agentName = null;
  setStatus(frame.state === "agent_joined" ? "agent" : frame.state === "returned_to_bot" ? "bot" : frame.state);
  if (frame.state === "closed") {
    renderNotice(frame.text || HANDOFF_TEXT.closed, "notice-handoff handoff-closed", false);
    renderRating();
    return;
  }
  let text = frame.text || HANDOFF_TEXT[frame.state] || frame.state;
  if (frame.state === "agent_joined" && !frame.text) text = t("joined", { name: frame.agent_name || t("an_agent") });
  if (frame.state === "queued" && frame.position && !frame.text) text += ` ${t("position", { n: frame.position })}`;
  renderNotice(text, `notice-handoff handoff-${frame.state}`, false);
}

function renderRating() {
  if (log.querySelector(".rating-card:not(.done)")) return;
  const card = document.createElement("form");
  card.className = "rating-card";
  card.append(label(t("rating_title"), "confirm-title"));
  const stars = document.createElement("div");
  stars.className = "stars";
  stars.setAttribute("role", "radiogroup");
  stars.setAttribute("aria-label", t("rating_group"));
  let chosen = 0;
  for (let score = 1; score <= 5; score++) {
    const star = document.createElement("button");
    star.type = "button";
    star.className = "star";
    star.textContent = "★";
    star.setAttribute("role", "radio");
    star.setAttribute("aria-label", t("rating_star", { n: score }));
    star.dataset.score = String(score);
    star.addEventListener("click", () => {
      chosen = score;
      stars.querySelectorAll(".star").forEach((s) => {
        const on = Number(s.dataset.score) <= score;
        s.classList.toggle("on", on);
        s.setAttribute("aria-checked", String(Number(s.dataset.score) === score));
      });
      submit.disabled = false;
    });
    stars.append(star);
  }
  const comment = document.createElement("textarea");
  comment.rows = 2;
  comment.maxLength = 2000;
  comment.placeholder = t("rating_comment");
  comment.setAttribute("aria-label", t("comment"));
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "approve";
  submit.textContent = t("send_rating");
  submit.disabled = true;
  card.addEventListener("submit", (event) => {
    event.preventDefault();
    if (chosen && send({ type: "rate", score: chosen, comment: comment.value.trim() })) {
      submit.disabled = true;
    }
  });
  const actions = document.createElement("div");
  actions.className = "confirm-actions";
  actions.append(submit);
  card.append(stars, comment, actions);
  log.append(card);
  scrollDown();
}

function markRated(score) {
  const card = log.querySelector(".rating-card:not(.done)");
  if (!card) return;
  card.classList.add("done");
  card.replaceChildren(label(t("rating_thanks", { n: score }), "confirm-title"));
}

function setStatus(status) {
  if (status === "bot") state.agentName = null;
  state.status = status;
  document.getElementById("chat").dataset.status = status;
  renderHeader();
}

// --- Composer -----------------------------------------------------------------------

function submitMessage() {
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
  clearTimeout(typingStopTimer);
  state.typingSentAt = 0; // the server ends "typing" when the message arrives
  input.value = "";
  autosize();
  scrollDown();
  send(frame);
}

// --- Photos -------------------------------------------------------------------------

const MAX_PHOTO_BYTES = Number(chatEl.dataset.maxPhotoBytes) || 8 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];
const photoInput = document.getElementById("photo");
const photoPreview = document.getElementById("photo-preview");

function photoImage(url, alt, width, height) {
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

function choosePhoto(file) {
  clearPhoto();
  if (!file) return;
  // Checked here for a quick answer; the server checks again and re-encodes.
  if (!PHOTO_TYPES.includes(file.type)) {
    renderNotice(t("photo_type"), "notice-error", false);
    return;
  }
  if (file.size > MAX_PHOTO_BYTES) {
    renderNotice(t("photo_too_large", { n: Math.floor(MAX_PHOTO_BYTES / 1048576) }), "notice-error", false);
    return;
  }
  state.photo = file;
  document.getElementById("photo-preview-img").src = URL.createObjectURL(file);
  document.getElementById("photo-preview-name").textContent = file.name;
  photoPreview.hidden = false;
  input.focus();
}

function clearPhoto() {
  state.photo = null;
  photoInput.value = "";
  photoPreview.hidden = true;
}

async function sendPhoto(text, file) {
  const clientId = crypto.randomUUID();
  const { row, body } = bubble("customer", "sending");
  row.dataset.clientId = clientId;
  body.append(photoImage(URL.createObjectURL(file), t("photo_you_sent")));
  if (text) body.append(Object.assign(document.createElement("div"), { textContent: text }));
  stamp(row, null);
  log.querySelectorAll(".chips").forEach((c) => c.remove());
  input.value = "";
  autosize();
  clearPhoto();
  scrollDown();
  const form = new FormData();
  form.append("photo", file);
  let response;
  try {
    response = await fetch(`/api/conversations/${state.conversation.id}/photos/`, {
      method: "POST",
      headers: { Authorization: `Bearer ${state.conversation.token}` },
      body: form,
    });
  } catch (_) {
    response = null;
  }
  if (!response || response.status !== 201) {
    let message = t("photo_failed");
    try {
      message = (await response.json()).error.message || message;
    } catch (_) {
      /* keep the general message */
    }
    // Nothing else is lost: the text goes back into the box.
    row.remove();
    if (text && !input.value) {
      input.value = text;
      autosize();
    }
    renderNotice(message, "notice-error notice-photo", false);
    return;
  }
  const uploaded = await response.json();
  const frame = { type: "message", client_id: clientId, text, attachment_id: uploaded.attachment_id };
  state.outbox.set(clientId, frame);
  send(frame);
}

document.getElementById("attach").addEventListener("click", () => photoInput.click());
photoInput.addEventListener("change", () => choosePhoto(photoInput.files && photoInput.files[0]));
document.getElementById("photo-remove").addEventListener("click", () => {
  clearPhoto();
  input.focus();
});

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

function autosize() {
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

// --- Helpers ------------------------------------------------------------------------

function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

function showWorking(text) {
  working.hidden = false;
  workingText.textContent = text;
}

function hideWorking() {
  working.hidden = true;
}

function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

async function start() {
  state.conversation = loadConversation();
  if (!state.conversation) {
    try {
      state.conversation = await createConversation();
    } catch (error) {
      showBanner(t("start_failed"));
      return;
    }
    renderNotice(t("welcome"), "notice-welcome", false);
    if (state.identityRefused) {
      renderNotice(
        t("identity_refused"),
        "notice-identity",
        false,
      );
    }
  }
  connect();
  if (!EMBEDDED) input.focus();
}

start();
