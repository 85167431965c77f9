// The reply box: its draft kept across reloads, sending, and the copilot writing a
// suggestion into it (never sent on its own) or a summary of the conversation.

import { insertCanned, reportTyping, sendReplies } from "./composer.js";
import { announce } from "./inbox_alerts.js";
import { conversationSocketNow, summaryList } from "./inbox_conversation.js";
import { clearDraft, savedDraft } from "./inbox_page.js";
import { el, post } from "./socket.js";

const replyForm = document.getElementById("reply-form");
const textarea = document.getElementById("reply-text");

const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
const suggestionField = document.getElementById("suggestion-id");
const copilotStatus = document.getElementById("copilot-status");
const discardButton = document.getElementById("copilot-discard");

async function discardSuggestion() {
  const id = suggestionField.value;
  if (!id) return;
  suggestionField.value = "";
  discardButton.hidden = true;
  copilotStatus.textContent = "Suggestion discarded.";
  await post(discardButton.dataset.url.replace("/0/", `/${id}/`), {});
}

if (replyForm) {
  const draft = savedDraft();
  if (draft) textarea.value = draft;
  sendReplies(replyForm, textarea, () => {
    suggestionField.value = "";
    discardButton.hidden = true;
    copilotStatus.textContent = "";
    clearDraft();
  });
  textarea.addEventListener("input", () => {
    if (!textarea.value.trim() && suggestionField.value) discardSuggestion();
  });
  reportTyping(replyForm, textarea, conversationSocketNow);
  insertCanned(document.getElementById("canned"), textarea);
  document.getElementById("copilot-suggest").addEventListener("click", suggestReply);
  discardButton.addEventListener("click", async () => {
    await discardSuggestion();
    textarea.value = "";
    textarea.focus();
  });
}

export async function suggestReply() {
  const button = document.getElementById("copilot-suggest");
  if (!button || button.disabled) return;
  if (suggestionField.value) await discardSuggestion();
  button.disabled = true;
  copilotStatus.textContent = "The copilot is writing…";
  const previous = textarea.value;
  textarea.value = "";
  let failed = null;
  try {
    const response = await fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/x-ndjson", "X-CSRFToken": csrf },
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.message || `The server answered ${response.status}.`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line.trim()) continue;
        const frame = JSON.parse(line);
        if (frame.type === "start") suggestionField.value = frame.id;
        else if (frame.type === "delta") textarea.value += frame.text;
        else if (frame.type === "done") textarea.value = frame.text;
        else if (frame.type === "error") failed = frame.message;
      }
    }
  } catch (error) {
    failed = error.message;
  }
  button.disabled = false;
  if (failed) {
    suggestionField.value = "";
    textarea.value = previous;
    copilotStatus.textContent = `No suggestion: ${failed}`;
    return;
  }
  discardButton.hidden = false;
  copilotStatus.textContent = "Suggestion ready: edit it, then send. It is never sent on its own.";
  textarea.focus();
  textarea.setSelectionRange(textarea.value.length, textarea.value.length);
}

const summaryButton = document.getElementById("copilot-summary");
export async function summarise() {
  if (!summaryButton) return;
  summaryButton.disabled = true;
  const result = await post(summaryButton.dataset.url, {});
  summaryButton.disabled = false;
  const target = document.getElementById("copilot-summary-result");
  if (!result.ok) {
    target.replaceChildren(el("dt", "", "Summary"), el("dd", "", result.message || "Not available."));
  } else {
    const list = summaryList("copilot-summary-result", result.summary);
    const by = result.source === "model" ? "the model" : "rules (no model answered)";
    list.append(el("dt", "", "Written by"), el("dd", "", by));
    target.replaceWith(list);
    announce(`summary-${result.id}`, `Summary: ${result.summary.goal}. Next step: ${result.summary.next_step}`);
  }
  document.getElementById("copilot-summary-result").hidden = false;
}
summaryButton?.addEventListener("click", summarise);
