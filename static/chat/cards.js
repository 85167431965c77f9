// Cards in the transcript that ask the customer something: confirming an order change,
// the hand-off notices, and rating the chat once it is closed.

import { label, log, scrollDown, send, state } from "./page.js";
import { setStatus } from "./people.js";
import { t } from "./text.js";
import { renderNotice } from "./transcript.js";

export function renderConfirm(frame) {
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

export function renderConfirmResult(frame) {
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

export function renderHandoff(frame) {
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

export function markRated(score) {
  const card = log.querySelector(".rating-card:not(.done)");
  if (!card) return;
  card.classList.add("done");
  card.replaceChildren(label(t("rating_thanks", { n: score }), "confirm-title"));
}
