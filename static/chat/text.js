// The page's words in the customer's language (Django i18n, apps/chat/ui_text.py),
// and the language dates are written in.

export const LANG = document.documentElement.lang || undefined;

const UI_TEXT = JSON.parse(document.getElementById("ui-text").textContent || "{}");
export function t(key, values = {}) {
  return String(UI_TEXT[key] || key).replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}
