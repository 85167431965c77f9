"""The questions the reports ask the model for a typed answer in a strict json_schema (a
conversation's analysis, its quality review, an article draft), asked now or as a line
of a nightly Batch API job (apps/reports/openai_batch.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from asgiref.sync import async_to_sync
from pydantic import BaseModel

from apps.assistant.costs import cost_usd
from apps.assistant.providers.base import JsonCall
from apps.assistant.tools import response_format

Result = TypeVar("Result", bound=BaseModel)


@dataclass(frozen=True)
class ModelUsage:
    """What an answer took: the model (empty: the rules answered), its tokens, and
    whether it came through the Batch API (half the price)."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch: bool = False

    @property
    def cost_usd(self) -> Decimal:
        return cost_usd(self.model, self.prompt_tokens, self.completion_tokens, batch=self.batch)

    def fields(self) -> dict[str, Any]:
        """The columns of it an `EpisodeReport` (an analysis, a quality review) keeps."""
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }


NO_MODEL = ModelUsage()  # the rules answered: nothing to pay


class StructuredCall(Generic[Result]):
    """One kind of question: the typed result it is answered with, the name of its
    schema, and the most tokens the answer may take."""

    def __init__(self, name: str, result: type[Result], *, max_tokens: int) -> None:
        self.name = name
        self.result = result
        self.max_tokens = max_tokens
        # Declared at import, so a test can hold every schema against OpenAI's contract.
        self.schema: dict[str, Any] = response_format(name, result)

    def _call(self, system: str, user: str) -> JsonCall:
        return JsonCall(
            system=system,
            user=user,
            schema_name=self.name,
            schema=self.schema,
            max_tokens=self.max_tokens,
        )

    def ask(self, system: str, user: str) -> tuple[Result, ModelUsage]:
        """The configured provider's answer. Raises its ProviderError, or ValidationError
        for an answer outside the schema."""
        from apps.assistant.providers import get_provider

        provider = get_provider()
        parsed, usage = async_to_sync(provider.complete_json)(**self._call(system, user))
        result = self.result.model_validate(parsed)
        return result, ModelUsage(provider.model, usage.prompt_tokens, usage.completion_tokens)

    def batch_line(self, custom_id: Any, system: str, user: str, model: str) -> str:
        """One JSONL line of a Batch API input file: the question as the same
        chat.completions request `ask` sends."""
        from apps.assistant.providers.openai import json_body

        body = json_body(model, self._call(system, user))
        line = {"custom_id": str(custom_id), "method": "POST", "url": "/v1/chat/completions"}
        return json.dumps({**line, "body": body}, separators=(",", ":"), ensure_ascii=False)
