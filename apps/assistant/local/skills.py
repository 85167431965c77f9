"""How the local assistant decides what to say or which tool to call.

A skill is a function `(LocalState) -> LocalReply | None`. Skills are tried
from the highest priority down; the first that answers wins. Skills for a
domain live in the app that owns the tools they call, as `<app>/local_skills.py`
(the orders app's order skills, the knowledge app's help-center skills), found the
way tools are; the hand-off skills (`handoff.py`) read only the shared recognisers
and stay here. This module holds the state they read
and the general ones: greetings, asking for a human, and the fallback.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import autodiscover_modules

from apps.assistant.providers.base import ModelRequest

SKILL_MODULES = ("handoff",)


@dataclass
class ToolOutput:
    name: str
    arguments: dict[str, Any]
    data: Any  # the unwrapped tool result


@dataclass
class LocalState:
    user_text: str  # the latest customer message ("" when none)
    user_texts: list[str]  # every customer message of this episode, oldest first
    assistant_texts: list[str]
    # Tool calls made since the latest customer message, with their results.
    tool_outputs: list[ToolOutput]
    tool_names: set[str]
    context: dict[str, Any]
    user_images: int = 0  # photos in the latest customer message (image parts)

    @property
    def verified(self) -> bool:
        return bool(self.context.get("verified"))

    def can_call(self, name: str) -> bool:
        return name in self.tool_names

    def last_output(self, name: str | None = None) -> ToolOutput | None:
        for output in reversed(self.tool_outputs):
            if name is None or output.name == name:
                return output
        return None

    @classmethod
    def from_request(cls, request: ModelRequest) -> LocalState:
        from apps.assistant.prompts import unwrap_untrusted

        user_texts: list[str] = []
        user_images = 0
        assistant_texts: list[str] = []
        outputs: list[ToolOutput] = []
        pending_calls: dict[str, tuple[str, dict[str, Any]]] = {}
        for message in request.messages:
            role = message.get("role")
            if role == "user":
                text, images = _user_content(message.get("content"))
                user_texts.append(text)
                user_images = images
                outputs = []
            elif role == "assistant":
                if message.get("content"):
                    assistant_texts.append(str(message["content"]))
                for call in message.get("tool_calls") or []:
                    fn = call["function"]
                    try:
                        arguments = json.loads(fn.get("arguments") or "{}")
                    except json.JSONDecodeError:
                        arguments = {}
                    pending_calls[call["id"]] = (fn["name"], arguments)
            elif role == "tool":
                name, arguments = pending_calls.get(message.get("tool_call_id", ""), ("", {}))
                outputs.append(ToolOutput(name, arguments, unwrap_untrusted(message["content"])))
        tool_names = {t["function"]["name"] for t in request.tools if t.get("type") == "function"}
        return cls(
            user_text=user_texts[-1] if user_texts else "",
            user_texts=user_texts,
            user_images=user_images,
            assistant_texts=assistant_texts,
            tool_outputs=outputs,
            tool_names=tool_names,
            context=dict(request.context),
        )


def _user_content(content: Any) -> tuple[str, int]:
    """A user message's text and how many images it carries (string or parts)."""
    if isinstance(content, list):
        texts = [str(p.get("text", "")) for p in content if p.get("type") == "text"]
        images = sum(1 for p in content if p.get("type") == "image_url")
        return " ".join(texts), images
    return str(content or ""), 0


@dataclass
class LocalReply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def call(cls, name: str, **arguments: Any) -> LocalReply:
        return cls(tool_calls=[(name, arguments)])


Skill = Callable[[LocalState], LocalReply | None]
_SKILLS: list[tuple[int, str, Skill]] = []
_loaded = False


def skill(priority: int) -> Callable[[Skill], Skill]:
    """Register a skill; higher priority is tried first."""

    def register(func: Skill) -> Skill:
        key = f"{func.__module__}.{func.__qualname__}"
        if all(existing != key for _, existing, _ in _SKILLS):
            _SKILLS.append((priority, key, func))
            _SKILLS.sort(key=lambda item: -item[0])
        return func

    return register


def _load_skill_modules() -> None:
    global _loaded
    if _loaded:
        return
    for module in SKILL_MODULES:
        try:
            importlib.import_module(f"apps.assistant.local.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.assistant.local.{module}":
                raise
    # A domain app contributes the skills for its own tools, as it contributes the tools.
    autodiscover_modules("local_skills")
    _loaded = True


def decide(state: LocalState) -> LocalReply:
    _load_skill_modules()
    for _, _, func in _SKILLS:
        reply = func(state)
        if reply is not None:
            return reply
    return LocalReply(text=FALLBACK)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


FALLBACK = (
    "I'm the store's offline assistant, so I can help with a few things: "
    "checking or changing your orders (cancel, return, exchange, address), "
    "answering questions from our help center, or connecting you with a person. "
    "What would you like to do?"
)

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)\b[\s!.,]*"
    r"(there|team|folks)?[\s!.,]*$",
    re.IGNORECASE,
)
_THANKS = re.compile(r"^\s*(thanks|thank you|thx|cheers|ty)\b.*$", re.IGNORECASE)


@skill(priority=10)
def greeting(state: LocalState) -> LocalReply | None:
    if state.tool_outputs or not _GREETING.match(state.user_text):
        return None
    name = state.context.get("customer_first_name")
    hello = f"Hi {name}!" if name else "Hi there!"
    return LocalReply(
        text=f"{hello} I'm the store's assistant. I can look up your orders, change or "
        "cancel them, answer questions from our help center, or get you a person. "
        "How can I help?"
    )


@skill(priority=10)
def thanks(state: LocalState) -> LocalReply | None:
    if state.tool_outputs or not _THANKS.match(state.user_text):
        return None
    return LocalReply(text="You're welcome! Is there anything else I can help with?")
