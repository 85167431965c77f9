// What every part of the chat page shares: its settings, its elements, the one state
// object, sending a frame, the banner, "working" line and scrolling, and small helpers.

export const chatEl = document.getElementById("chat");
export const EMBEDDED = chatEl.dataset.embedded === "true";
// In the messenger frame the store passes a signed identity token in the fragment.
export const IDENTITY = EMBEDDED ? new URLSearchParams(location.hash.slice(1)).get("identity") || "" : "";
export const ASSISTANT_NAME = chatEl.dataset.assistantName || "Assistant";

// Where this browser keeps the conversation it continues.
export const STORE_KEY = "supportbot.conversation";

export const SUGGESTIONS = JSON.parse(document.getElementById("suggestions").textContent || "[]");

export const log = document.getElementById("log");

export const input = document.getElementById("input");
const banner = document.getElementById("banner");
const working = document.getElementById("working");
const workingText = document.getElementById("working-text");

export const state = {
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

export function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

export function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

export function showWorking(text) {
  working.hidden = false;
  workingText.textContent = text;
}

export function hideWorking() {
  working.hidden = true;
}

export function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

export function label(text, className) {
  const el = document.createElement("div");
  el.className = className || "who";
  el.textContent = text;
  return el;
}

export function autosize() {
  input.style.height = "auto";
  // Empty again (sent): back to one line, whatever height the last message needed.
  input.style.height = input.value ? `${Math.min(input.scrollHeight, 160)}px` : "";
}
