// The agent's writing boxes, the same on the classic console page and in the inbox:
// the reply (sent with Enter, canned replies, "typing" for the customer) and notes.
import { postForm } from "./socket.js";

// Send the reply form over fetch; onSent() runs after the server took it.
export function sendReplies(form, textarea, onSent = () => {}) {
  const error = document.getElementById("reply-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!textarea.value.trim()) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const result = await postForm(form);
    button.disabled = false;
    if (result.ok) {
      textarea.value = "";
      onSent();
      error.hidden = true;
    } else {
      error.textContent = result.message || "Not sent.";
      error.hidden = false;
    }
    textarea.focus();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

// The customer sees "<agent> is typing…": at most one "typing" every 2 s while keys
// come, "stopped" after 4 s without one or when the reply is sent. Text put in the box
// by the page (a copilot suggestion) is not the agent typing.
export function reportTyping(form, textarea, socket) {
  let typingSentAt = 0;
  let typingStop = null;
  const stopTyping = () => {
    clearTimeout(typingStop);
    if (typingSentAt && socket()) socket().send({ type: "typing", typing: false });
    typingSentAt = 0;
  };
  textarea.addEventListener("input", (event) => {
    if (!socket() || !event.isTrusted) return;
    if (!textarea.value.trim()) return stopTyping();
    if (Date.now() - typingSentAt > 2000) {
      socket().send({ type: "typing", typing: true });
      typingSentAt = Date.now();
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 4000);
  });
  form.addEventListener("submit", stopTyping);
}

// The canned replies menu adds the chosen one (filled in by the server) to the reply.
export function insertCanned(canned, textarea) {
  const replies = JSON.parse(document.getElementById("canned-data").textContent);
  canned.addEventListener("change", () => {
    const chosen = replies[Number(canned.value)];
    if (chosen) textarea.value = textarea.value ? `${textarea.value} ${chosen.text}` : chosen.text;
    canned.value = "";
    textarea.focus();
  });
}

export function sendNotes(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await postForm(form);
    if (result.ok) form.querySelector("textarea").value = "";
  });
}
