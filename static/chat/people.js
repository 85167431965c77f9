// Who is in the chat: avatars and names, the header naming the agent who has the chat,
// the signed-in line, "typing" both ways and read receipts.

import { ASSISTANT_NAME, hideWorking, input, label, send, showWorking, state } from "./page.js";
import { t } from "./text.js";

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

export function authorHead(role, name) {
  const head = document.createElement("div");
  head.className = "msg-head";
  const text = role === "agent" ? (name ? t("agent_label", { name }) : t("support_team")) : t("ai_label", { name: ASSISTANT_NAME });
  head.append(avatar(role, name), label(text));
  return head;
}

export function renderHeader() {
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

export function showSignedIn(name) {
  const line = document.getElementById("signed-in");
  line.hidden = !name;
  line.textContent = name ? t("signed_in", { name }) : "";
}

export function setStatus(status) {
  if (status === "bot") state.agentName = null;
  state.status = status;
  document.getElementById("chat").dataset.status = status;
  renderHeader();
}

let agentTypingTimer = null;
export function showAgentTyping(typing, name) {
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
export function noteTyping() {
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

// A message was sent: the server ends "typing" when it arrives.
export function forgetTyping() {
  clearTimeout(typingStopTimer);
  state.typingSentAt = 0;
}

// The agent sees "Read" once the customer has had the chat in view.
let readTimer = null;
export function markReadSoon() {
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
