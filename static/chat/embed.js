// The messenger frame (/embed/): launcher, unread badge and the chat panel.
// The host page's widget.js only sizes this frame; it learns open/closed from us.
import { chatState, onFrame, t } from "./chat.js";

const OPEN_KEY = "supportbot.open";
const READ_KEY = "supportbot.read"; // {conversation, seq}: the last reply the shopper has seen
const messenger = document.getElementById("messenger");
const launcher = document.getElementById("launcher");
const launcherLabel = document.getElementById("launcher-label");
const panel = document.getElementById("panel");
const badge = document.getElementById("unread");
const minimise = document.getElementById("minimise");
const input = document.getElementById("input");
const parentOrigin = new URLSearchParams(location.hash.slice(1)).get("origin");
const framed = window.parent !== window;

let open = framed ? localStorage.getItem(OPEN_KEY) === "1" : true;
const unreadSeqs = new Set();

function readMark() {
  try {
    const mark = JSON.parse(localStorage.getItem(READ_KEY) || "null");
    if (mark && mark.conversation === chatState().conversationId) return mark.seq || 0;
  } catch (_) {
    /* replaced on the next read */
  }
  return 0;
}

function markRead() {
  const { conversationId, lastSeq } = chatState();
  if (!conversationId) return;
  localStorage.setItem(READ_KEY, JSON.stringify({ conversation: conversationId, seq: lastSeq }));
  unreadSeqs.clear();
}

function tellHost() {
  if (!framed || !parentOrigin) return;
  try {
    window.parent.postMessage({ source: "supportbot", type: "state", open }, parentOrigin);
  } catch (_) {
    /* a malformed origin in the fragment: the host just keeps the frame's size */
  }
}

function render() {
  messenger.dataset.open = String(open);
  panel.hidden = !open;
  launcher.setAttribute("aria-expanded", String(open));
  const count = unreadSeqs.size;
  badge.hidden = open || count === 0;
  badge.textContent = count > 9 ? "9+" : String(count);
  launcherLabel.textContent = open
    ? t("launcher_close")
    : count
      ? count === 1
        ? t("launcher_unread_one")
        : t("launcher_unread_many", { n: count })
      : t("launcher_open");
}

function setOpen(next, { focus = true } = {}) {
  open = next;
  if (framed) localStorage.setItem(OPEN_KEY, open ? "1" : "0");
  if (open) markRead();
  // Resize the frame before showing the panel, and hide the panel before shrinking it.
  tellHost();
  render();
  if (focus) (open ? input : launcher).focus({ preventScroll: true });
  document.dispatchEvent(new CustomEvent("supportbot:visible", { detail: { visible: open } }));
}

onFrame((frame) => {
  if (frame.type === "resumed" && open) markRead();
  if (frame.type !== "message" || typeof frame.seq !== "number") return;
  if (frame.role !== "assistant" && frame.role !== "agent") return;
  if (open) {
    markRead();
    return;
  }
  if (frame.seq > readMark()) unreadSeqs.add(frame.seq);
  render();
});

// The host's widget.js says whether the page is on a phone: then the open panel
// fills the screen. On its own (not framed), the frame's own width decides.
window.addEventListener("message", (event) => {
  if (!framed || event.source !== window.parent || event.origin !== parentOrigin) return;
  const data = event.data;
  if (data && data.source === "supportbot-host" && data.type === "layout") {
    messenger.dataset.layout = data.phone ? "phone" : "desktop";
  }
});
if (!framed) messenger.dataset.layout = window.matchMedia("(max-width: 560px)").matches ? "phone" : "desktop";

launcher.addEventListener("click", () => setOpen(!open));
if (minimise) minimise.addEventListener("click", () => setOpen(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && open && framed) setOpen(false);
});

if (!framed) launcher.hidden = true; // opened on its own: just the chat
tellHost();
render();
launcher.disabled = false; // the page rendered it disabled: now a click opens the chat
