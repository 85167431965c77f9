// What the inbox's parts share: the server's state for this page, a conversation's
// address in the inbox, and one time format everywhere.

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
