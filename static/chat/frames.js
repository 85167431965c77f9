// Each frame from the server, sent to the part of the page that shows it. Live frames
// wait while the server replays what this page missed.

import { markRated, renderConfirm, renderConfirmResult, renderHandoff } from "./cards.js";
import { renderSuggestions } from "./composer.js";
import { showWorking, state } from "./page.js";
import { markReadSoon, setStatus, showAgentTyping, showSignedIn } from "./people.js";
import {
  finishTurn,
  renderDelta,
  renderError,
  renderMessage,
  startTurn,
  statusLine,
} from "./transcript.js";

const listeners = [];

// For the messenger frame (embed.js): every frame after it is handled, and the state.
export function onFrame(listener) {
  listeners.push(listener);
}
export function chatState() {
  return { conversationId: state.conversation && state.conversation.id, lastSeq: state.lastSeq, status: state.status };
}

export function handle(frame) {
  if (state.resuming && !frame.replay && frame.type !== "session" && frame.type !== "resumed") {
    state.liveQueue.push(frame);
    return;
  }
  if (typeof frame.seq === "number") {
    if (state.seen.has(frame.seq)) return;
    state.seen.add(frame.seq);
    state.lastSeq = Math.max(state.lastSeq, frame.seq);
  }
  switch (frame.type) {
    case "session":
      // A closed chat keeps the name of the person who had it (the replay sets it).
      if (frame.agent_name || frame.status !== "closed") state.agentName = frame.agent_name || null;
      if (frame.status) setStatus(frame.status);
      state.csatScore = typeof frame.csat_score === "number" ? frame.csat_score : null;
      showSignedIn(frame.verified && frame.customer_name);
      break;
    case "resumed": {
      // The replayed close re-offers the rating card; once rated, it only says thanks.
      if (state.status === "closed" && state.csatScore !== null) markRated(state.csatScore);
      state.resuming = false;
      const queued = state.liveQueue;
      state.liveQueue = [];
      for (const live of queued) handle(live);
      renderSuggestions();
      markReadSoon();
      break;
    }
    case "message":
      renderMessage(frame);
      break;
    case "delta":
      renderDelta(frame);
      break;
    case "status":
      showWorking(frame.text);
      statusLine(frame.turn_id, frame.text);
      break;
    case "turn":
      if (frame.state === "started") startTurn(frame.turn_id);
      else finishTurn(frame.turn_id);
      break;
    case "confirm_request":
      renderConfirm(frame);
      break;
    case "confirm_result":
      renderConfirmResult(frame);
      break;
    case "handoff":
      renderHandoff(frame);
      break;
    case "error":
      renderError(frame);
      break;
    case "rated":
      markRated(frame.score);
      break;
    case "typing":
      if (frame.who === "agent") showAgentTyping(frame.typing, frame.agent_name);
      break;
    default:
      break;
  }
  if (typeof frame.seq === "number") markReadSoon();
  for (const listener of listeners) listener(frame);
}
