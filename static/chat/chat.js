// The customer chat page: one WebSocket, stored events replayed by seq,
// streamed replies, confirmation cards, hand-off notices, auto-reconnect.
// This entry starts it; each concern is a module beside it (see docs).
import { connect, createConversation, loadConversation } from "./connection.js";
import { handle } from "./frames.js";
import { EMBEDDED, input, showBanner, state } from "./page.js";
import { t } from "./text.js";
import { renderNotice } from "./transcript.js";

// For the messenger frame (embed.js): every frame after it is handled, the state, the words.
export { chatState, onFrame } from "./frames.js";
export { t } from "./text.js";

async function start() {
  state.conversation = loadConversation();
  if (!state.conversation) {
    try {
      state.conversation = await createConversation();
    } catch (error) {
      showBanner(t("start_failed"));
      return;
    }
    renderNotice(t("welcome"), "notice-welcome", false);
    if (state.identityRefused) {
      renderNotice(
        t("identity_refused"),
        "notice-identity",
        false,
      );
    }
  }
  connect({ onFrame: handle });
  if (!EMBEDDED) input.focus();
}

start();
