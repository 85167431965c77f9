// Shared helpers of the agent console: a reconnecting staff socket, CSRF-protected
// posts, and DOM building that only ever sets text (never HTML) from data.

export function connect(path, { onFrame, onState }) {
  let ws = null;
  let delay = 500;
  let pinger = null;
  let opened = false;
  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}${path}`);
    ws.addEventListener("open", () => {
      delay = 500;
      onState(opened ? "reconnected" : "live");
      opened = true;
      pinger = setInterval(() => send({ type: "ping" }), 30000);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      onFrame(frame);
    });
    ws.addEventListener("close", () => {
      clearInterval(pinger);
      onState("reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }
  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }
  open();
  return { send };
}

export function postForm(form) {
  const token = form.querySelector("[name=csrfmiddlewaretoken]");
  return send(form.action, new FormData(form), token ? token.value : "");
}

// A POST of a few fields, with the page's CSRF token.
export function post(url, fields) {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) body.append(key, String(value));
  return send(url, body, document.querySelector("[name=csrfmiddlewaretoken]").value);
}

// The server's JSON answer, with `ok` false on an error status or an answer that says so.
async function send(url, body, csrf) {
  const response = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrf },
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { message: `The server answered ${response.status}.` };
  }
  return { ...data, ok: response.ok && data.ok !== false };
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function waitedText(since) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(since).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function showConnection(state) {
  const node = document.getElementById("connection");
  if (!node) return;
  node.textContent = state === "reconnecting" ? "Reconnecting…" : "Live";
  node.className = `connection connection-${state}`;
}
