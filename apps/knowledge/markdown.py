"""A small, safe Markdown renderer for help-center articles.

Article bodies are edited by staff, but they are still text from a form: nothing
in them may reach a page as HTML. Every character is escaped first; only the
markup below is turned into tags, and links only when they point to http(s) or
to a path on this site.

Supported: headings (#..######), bullet lists (- or *), numbered lists (1.),
paragraphs, **bold**, *italic* / _italic_, `code` and [text](url).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+(.*)$")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^()\s]+)\)")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")


@dataclass(frozen=True)
class Section:
    heading: str  # "" for the text before the first heading
    anchor: str
    markdown: str


def safe_url(url: str) -> str | None:
    """The URL if a link to it is harmless (http, https or a local path), else None."""
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://")):
        return url.strip()
    if lowered.startswith("/") and not lowered.startswith("//") and "\\" not in lowered:
        return url.strip()
    return None


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", escaped)
    return _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", escaped)


def _links_and_emphasis(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        out.append(_emphasis(escape(text[last : match.start()])))
        label = _emphasis(escape(match.group(1)))
        url = safe_url(match.group(2))
        if url is None:
            out.append(label)
        else:
            external = not url.startswith("/")
            rel = ' rel="nofollow noopener noreferrer"' if external else ""
            out.append(f'<a href="{escape(url, quote=True)}"{rel}>{label}</a>')
        last = match.end()
    out.append(_emphasis(escape(text[last:])))
    return "".join(out)


def render_inline(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_links_and_emphasis(text[last : match.start()]))
        out.append(f"<code>{escape(match.group(1))}</code>")
        last = match.end()
    out.append(_links_and_emphasis(text[last:]))
    return "".join(out)


def render(markdown: str, *, min_heading: int = 2) -> SafeString:
    """Markdown to HTML in which every tag was made here and all text is escaped."""
    html: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None

    def close_paragraph() -> None:
        if paragraph:
            html.append(f"<p>{render_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_tag
        if list_tag:
            html.append(f"</{list_tag}>")
            list_tag = None

    for raw in markdown.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = None if bullet else _NUMBERED.match(line)
        if not line.strip():
            close_paragraph()
            close_list()
        elif heading:
            close_paragraph()
            close_list()
            level = min(max(len(heading.group(1)), min_heading), 6)
            text = heading.group(2)
            anchor = slugify(text)
            html.append(f'<h{level} id="{escape(anchor)}">{render_inline(text)}</h{level}>')
        elif bullet or numbered:
            close_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag != tag:
                close_list()
                html.append(f"<{tag}>")
                list_tag = tag
            item = (bullet or numbered).group(1)  # type: ignore[union-attr]
            html.append(f"<li>{render_inline(item)}</li>")
        elif list_tag and raw.startswith(("  ", "\t")):
            # An indented line continues the previous list item.
            html[-1] = html[-1][: -len("</li>")] + " " + render_inline(line.strip()) + "</li>"
        else:
            close_list()
            paragraph.append(line.strip())
    close_paragraph()
    close_list()
    return mark_safe("\n".join(html))  # noqa: S308 - built only from escaped text and our tags


def split_sections(markdown: str) -> list[Section]:
    """The article cut at its headings; text before the first heading is its own section."""
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body or heading:
            sections.append(Section(heading, slugify(heading), body))

    for raw in markdown.replace("\r\n", "\n").split("\n"):
        match = _HEADING.match(raw.rstrip())
        if match:
            flush()
            heading = match.group(2).strip()
            lines = []
        else:
            lines.append(raw)
    flush()
    return [section for section in sections if section.markdown or section.heading]


def to_plain(markdown: str) -> str:
    """Readable plain text: link labels kept, markup dropped, lines joined."""
    text = _LINK.sub(lambda m: m.group(1), markdown)
    text = _CODE.sub(lambda m: m.group(1), text)
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _ITALIC.sub(lambda m: m.group(1) or m.group(2), text)
    parts: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        item = _BULLET.match(line) or _NUMBERED.match(line)
        if item:
            line = item.group(1)
            if not line.endswith((".", "!", "?", ":")):
                line += "."
        parts.append(line)
    return " ".join(parts)
