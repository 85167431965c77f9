// The live queue: rows come from the page's data, then from the staff socket.
import { connect, el, postForm, showConnection, waitedText } from "./socket.js";

const root = document.getElementById("console-queue");
const tbody = document.querySelector("#queue-table tbody");
const claimUrl = document.getElementById("claim-url-template").dataset.url;
const conversationUrl = document.getElementById("conversation-url-template").dataset.url;
const formTemplate = document.getElementById("claim-form-template");
const cards = new Map();
const refusals = new Map(); // escalation id -> "Already taken by Sam"

for (const card of JSON.parse(document.getElementById("queue-data").textContent)) {
  cards.set(card.id, card);
}

function ordered() {
  return [...cards.values()].sort(
    (a, b) => b.priority_rank - a.priority_rank || a.created_at.localeCompare(b.created_at) || a.id - b.id,
  );
}

function row(card, position) {
  const tr = el("tr");
  tr.dataset.id = card.id;
  tr.append(el("td", "", position));
  const priority = el("td");
  priority.append(el("span", `priority priority-${card.priority}`, card.priority));
  tr.append(priority);
  const waited = el("td", "waited", waitedText(card.created_at));
  waited.dataset.since = card.created_at;
  tr.append(waited);
  const who = el("td");
  const link = el("a", "", card.customer);
  link.href = conversationUrl.replace("00000000-0000-0000-0000-000000000000", card.conversation_id);
  who.append(link);
  if (card.email_requested) who.append(el("div", "muted", `Asked for email: ${card.contact_email}`));
  tr.append(who);
  const why = el("td");
  why.append(el("strong", "", card.trigger_label), el("br"), document.createTextNode(card.reason));
  tr.append(why);
  const summary = el("td");
  if (card.summary && card.summary.goal) {
    summary.append(el("div", "", card.summary.goal));
    if (card.summary.next_step) summary.append(el("div", "muted", `Next: ${card.summary.next_step}`));
    if (card.summary.sentiment) summary.append(el("div", "muted", `Mood: ${card.summary.sentiment}`));
  } else {
    summary.append(el("span", "muted", "(summary on its way)"));
  }
  tr.append(summary);
  const action = el("td");
  if (refusals.has(card.id)) {
    action.append(el("span", "taken", refusals.get(card.id)));
  } else {
    const form = formTemplate.content.firstElementChild.cloneNode(true);
    form.action = claimUrl.replace("/0/", `/${card.id}/`);
    action.append(form);
  }
  tr.append(action);
  return tr;
}

function render() {
  const rows = ordered().map((card, index) => row(card, index + 1));
  if (!rows.length) {
    const empty = el("tr", "empty");
    const cell = el("td", "", "No one is waiting.");
    cell.colSpan = 7;
    empty.append(cell);
    rows.push(empty);
  }
  tbody.replaceChildren(...rows);
}

function onFrame(frame) {
  if (frame.type === "snapshot") {
    cards.clear();
    for (const card of frame.escalations) cards.set(card.id, card);
    document.getElementById("online").textContent = frame.online_agents;
    render();
    return;
  }
  if (frame.type !== "event" || !frame.escalation) return;
  const card = frame.escalation;
  if (card.status === "queued") {
    cards.set(card.id, card);
  } else if (cards.has(card.id)) {
    cards.delete(card.id);
    refusals.delete(card.id);
  }
  render();
}

tbody.addEventListener("submit", async (event) => {
  const form = event.target.closest(".claim-form");
  if (!form) return;
  event.preventDefault();
  form.querySelector("button").disabled = true;
  const result = await postForm(form);
  if (result.ok) {
    location.assign(result.redirect);
    return;
  }
  const id = Number(form.closest("tr").dataset.id);
  refusals.set(id, result.message || "Could not claim this one.");
  render();
});

setInterval(() => {
  for (const cell of tbody.querySelectorAll(".waited")) cell.textContent = waitedText(cell.dataset.since);
}, 1000);

render();
connect(root.dataset.socket, { onFrame, onState: showConnection });
