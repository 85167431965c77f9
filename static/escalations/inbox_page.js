// What the inbox's parts share: the server's state for this page, a conversation's
// address in the inbox, one time format everywhere, and the reply's draft.

import { el } from "./socket.js";

export const state = JSON.parse(document.getElementById("inbox-state").textContent);

export function conversationHref(id) {
  return state.urls.conversation.replace("00000000-0000-0000-0000-000000000000", id);
}

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

export function timeEl(iso) {
  const node = el("time", "", formatTime(iso));
  node.dateTime = iso;
  node.title = new Date(iso).toLocaleString();
  return node;
}

// The reply's draft, kept across the reloads the page makes (a hand-off, an action).
const draftKey = `inbox-draft-${state.conversation_id}`;
export function saveDraft() {
  const textarea = document.getElementById("reply-text");
  if (textarea && textarea.value.trim()) sessionStorage.setItem(draftKey, textarea.value);
}
export function savedDraft() {
  return sessionStorage.getItem(draftKey);
}
export function clearDraft() {
  sessionStorage.removeItem(draftKey);
}
