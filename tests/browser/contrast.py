"""WCAG contrast of rendered text, read from the browser's computed styles."""

from __future__ import annotations

from typing import Any

# For each element: its text colour and the first opaque background behind it.
_COLOURS = """els => els.map(el => {
  const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
  let node = el, bg = null;
  while (node && node.nodeType === 1) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) { bg = c.slice(0, 3); break; }
    node = node.parentElement;
  }
  return {fg: parse(getComputedStyle(el).color).slice(0, 3), bg: bg || [255, 255, 255],
          text: (el.innerText || el.getAttribute("aria-label") || "").trim().slice(0, 40)};
})"""


def _luminance(rgb: list[float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg: list[float], bg: list[float]) -> float:
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def contrasts(page: Any, selector: str) -> list[tuple[str, float]]:
    """(text, contrast ratio) for every element matching `selector`."""
    return [
        (item["text"], round(ratio(item["fg"], item["bg"]), 2))
        for item in page.eval_on_selector_all(selector, _COLOURS)
    ]
