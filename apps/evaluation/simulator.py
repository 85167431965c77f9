"""The user simulator: a language model playing the scenario's customer.

It reads the chat from the customer's side (the assistant's messages, confirmation
cards and their outcomes arrive as its `user` messages; what it typed before is its
own `assistant` messages), answers one message at a time, and presses Confirm or
Decline on a card through two tools. It ends the episode with a stop token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.assistant import prompts
from apps.assistant.costs import cost_usd
from apps.assistant.providers.base import (
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallsReady,
    Usage,
)
from apps.assistant.providers.openai import OpenAIProvider

PROMPT_NAME = "user_simulator.v1"
PROMPT = (Path(__file__).resolve().parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text(
    encoding="utf-8"
)
STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
GREETING = "Hi! I'm the store's AI assistant. How can I help you today?"
MAX_SIMULATOR_TOKENS = 300


def _button(name: str, description: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {},
                "required": [],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


BUTTONS = [
    _button("confirm_card", "Press Confirm on the open confirmation card."),
    _button("decline_card", "Press Decline on the open confirmation card."),
]


@dataclass
class UserAction:
    text: str = ""
    button: str = ""  # "approve" or "decline" when a card button was pressed

    @property
    def stop(self) -> str:
        """The stop token this message carries, if any."""
        for token in (STOP, TRANSFER):
            if token in self.text:
                return token
        return ""


@dataclass
class UserSimulator:
    """One simulated customer for one episode."""

    instructions: str
    model: str
    episode_key: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    _pressed: str = ""  # the tool call id of the last button press

    def __post_init__(self) -> None:
        system = (
            PROMPT.replace("{scenario}", self.instructions)
            .replace("{stop}", STOP)
            .replace("{transfer}", TRANSFER)
        )
        self.messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": GREETING},
        ]
        self.provider = OpenAIProvider(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL or None,
            model=self.model,
        )

    @property
    def cost_usd(self) -> str:
        return str(
            cost_usd(
                self.model,
                self.prompt_tokens,
                self.completion_tokens,
                cached_tokens=self.cached_tokens,
            )
        )

    def hear(self, text: str) -> None:
        """What the chat showed the customer since their last action."""
        if self.messages[-1]["role"] == "user":
            self.messages[-1]["content"] += "\n\n" + text
        else:
            self.messages.append({"role": "user", "content": text})

    async def act(self) -> UserAction:
        """The customer's next message, or a button press."""
        request = ModelRequest(
            messages=self.messages,
            tools=BUTTONS,
            max_tokens=MAX_SIMULATOR_TOKENS,
            temperature=settings.SUPPORTBOT_EVAL_USER_TEMPERATURE,
            cache_key=f"simulator-{self.episode_key}",
        )
        text = ""
        calls: tuple[Any, ...] = ()
        async for event in self.provider.stream(request):
            if isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, ToolCallsReady):
                calls = event.calls
            elif isinstance(event, Usage):
                self.prompt_tokens += event.prompt_tokens
                self.cached_tokens += event.cached_tokens
                self.completion_tokens += event.completion_tokens
        if calls:
            call = calls[0]
            button = {"confirm_card": "approve", "decline_card": "decline"}.get(call.name)
            if button is None:
                raise ProviderError("bad_response", f"the simulator called {call.name}")
            self.messages.append(prompts.tool_calls_message(text.strip() or None, [call]))
            self._pressed = call.id
            return UserAction(text=text.strip(), button=button)
        text = text.strip() or STOP
        self.messages.append({"role": "assistant", "content": text})
        return UserAction(text=text)

    def pressed(self, outcome: str) -> None:
        """The result of the button press, as the tool's answer."""
        self.messages.append(prompts.tool_result_message(self._pressed, outcome))
