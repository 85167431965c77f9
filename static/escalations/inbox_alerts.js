// Alerts for the agent: desktop notifications, a sound, and announcements for screen
// readers (each said once).

import { conversationHref } from "./inbox_page.js";

export const announced = new Set();

const notifyToggle = document.getElementById("notify-toggle");
export const soundToggle = document.getElementById("sound-toggle");
soundToggle.checked = localStorage.getItem("inbox-sound") === "on";
soundToggle.addEventListener("change", () => {
  localStorage.setItem("inbox-sound", soundToggle.checked ? "on" : "off");
  if (soundToggle.checked) beep();
});

function alertsOn() {
  return "Notification" in window && Notification.permission === "granted" && localStorage.getItem("inbox-alerts") === "on";
}

function showAlertState() {
  notifyToggle.textContent = `Desktop alerts: ${alertsOn() ? "on" : "off"}`;
  notifyToggle.setAttribute("aria-pressed", String(alertsOn()));
}
notifyToggle.addEventListener("click", async () => {
  if (!("Notification" in window)) {
    notifyToggle.textContent = "Desktop alerts: not supported";
    return;
  }
  if (alertsOn()) {
    localStorage.setItem("inbox-alerts", "off");
  } else {
    localStorage.setItem("inbox-alerts", "on");
    if (Notification.permission !== "granted") await Notification.requestPermission();
  }
  showAlertState();
});
showAlertState();

let audio = null;
export function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch {
    // no audio device: the title and the notification still tell
  }
}

const announcer = document.getElementById("announcer");
export function announce(key, text) {
  if (announced.has(key)) return;
  announced.add(key);
  announcer.textContent = text;
}

export function newEscalation(card) {
  window.dispatchEvent(new CustomEvent("inbox:new-escalation", { detail: card }));
  announce(`escalation-${card.id}-${card.status}`, `New in the queue: ${card.customer}, ${card.priority} priority.`);
  if (soundToggle.checked) beep();
  if (alertsOn() && document.visibilityState !== "visible") {
    const note = new Notification(`${card.customer} is waiting (${card.priority})`, {
      body: card.reason,
      tag: `escalation-${card.id}`,
    });
    note.onclick = () => {
      window.focus();
      location.assign(conversationHref(card.conversation_id));
    };
  }
}
