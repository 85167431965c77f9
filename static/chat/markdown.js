// A small, safe Markdown renderer: it builds DOM nodes with textContent only,
// so no HTML from the model, an agent or a customer is ever parsed as HTML.
// Supports paragraphs, line breaks, bullet and numbered lists, **bold**,
// *italic*, `code` and [links](url) to http(s) or same-site paths.

const INLINE = /(\*\*[^*\n]+\*\*|\*[^*\n]+\*|`[^`\n]+`|\[[^\]\n]+\]\([^)\s]+\)|https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

export function safeHref(url) {
  const trimmed = String(url).trim();
  if (trimmed.startsWith("/")) {
    // "//host" and "/\host" leave the site (browsers read a backslash as a slash);
    // control characters are dropped by URL parsing, so they could hide either.
    if (/^\/[\/\\]/.test(trimmed) || /[\\\u0000-\u001f]/.test(trimmed)) return null;
    return trimmed;
  }
  try {
    const parsed = new URL(trimmed);
    if (parsed.protocol === "https:" || parsed.protocol === "http:") return parsed.href;
  } catch (_) {
    return null;
  }
  return null;
}

function link(text, href) {
  const safe = safeHref(href);
  if (!safe) return document.createTextNode(text);
  const a = document.createElement("a");
  a.textContent = text;
  a.href = safe;
  if (!safe.startsWith("/")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
  }
  return a;
}

export function renderInline(text, parent) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const token = match[0];
    if (token.startsWith("**")) {
      const b = document.createElement("strong");
      b.textContent = token.slice(2, -2);
      parent.append(b);
    } else if (token.startsWith("`")) {
      const c = document.createElement("code");
      c.textContent = token.slice(1, -1);
      parent.append(c);
    } else if (token.startsWith("*")) {
      const i = document.createElement("em");
      i.textContent = token.slice(1, -1);
      parent.append(i);
    } else if (token.startsWith("[")) {
      const split = token.indexOf("](");
      parent.append(link(token.slice(1, split), token.slice(split + 2, -1)));
    } else {
      parent.append(link(token, token));
    }
    last = match.index + token.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

export function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const blocks = String(text).replace(/\r\n?/g, "\n").split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split("\n").filter((line) => line.trim() !== "");
    if (lines.length === 0) continue;
    const bullet = lines.every((line) => /^\s*[-*•]\s+/.test(line));
    const numbered = lines.every((line) => /^\s*\d+[.)]\s+/.test(line));
    if (bullet || numbered) {
      const list = document.createElement(bullet ? "ul" : "ol");
      for (const line of lines) {
        const li = document.createElement("li");
        renderInline(line.replace(/^\s*([-*•]|\d+[.)])\s+/, ""), li);
        list.append(li);
      }
      root.append(list);
      continue;
    }
    const p = document.createElement("p");
    lines.forEach((line, index) => {
      if (index > 0) p.append(document.createElement("br"));
      renderInline(line.replace(/^#{1,6}\s+/, ""), p);
    });
    root.append(p);
  }
  return root;
}
