// The conversation and its socket: which conversation this browser continues, opening
// the WebSocket and resuming from the last seq, reconnecting with back-off, and starting
// a new conversation when the stored one is refused.

import { IDENTITY, STORE_KEY, log, send, showBanner, state } from "./page.js";
import { t } from "./text.js";
import { renderNotice } from "./transcript.js";

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

export function loadConversation() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && saved.id && saved.token && (saved.identity || "") === identitySubject(IDENTITY)) return saved;
  } catch (_) {
    /* a corrupt entry is replaced below */
  }
  return null;
}

export async function createConversation() {
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

// Each frame from the server goes to onFrame (chat.js passes frames.js's handle).
export function connect({ onFrame }) {
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
    onFrame(frame);
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
    scheduleReconnect({ onFrame });
  });
}

async function scheduleReconnect(handlers) {
  showBanner(t("connection_lost"));
  const delay = Math.min(state.retryDelay, 15000) * (0.75 + Math.random() * 0.5);
  state.retryDelay = Math.min(state.retryDelay * 2, 15000);
  state.reconnectTimer = setTimeout(async () => {
    if (!(await conversationStillValid())) return;
    connect(handlers);
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
