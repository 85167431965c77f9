"""The questions the reports ask the model for a typed answer in a strict json_schema (a
conversation's analysis, its quality review, an article draft), asked now or as a line
of a nightly Batch API job (apps/reports/openai_batch.py)."""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from asgiref.sync import async_to_sync
from pydantic import BaseModel

from apps.assistant.tools import response_format

Result = TypeVar("Result", bound=BaseModel)


class StructuredCall(Generic[Result]):
    """One kind of question: the typed result it is answered with, the name of its
    schema, and the most tokens the answer may take."""

    def __init__(self, name: str, result: type[Result], *, max_tokens: int) -> None:
        self.name = name
        self.result = result
        self.max_tokens = max_tokens
        # Declared at import, so a test can hold every schema against OpenAI's contract.
        self.schema: dict[str, Any] = response_format(name, result)

    def ask(self, system: str, user: str) -> tuple[Result, int, int, str]:
        """(result, prompt tokens, completion tokens, model name) from the configured
        provider. Raises its ProviderError, or ValidationError for an answer outside
        the schema."""
        from apps.assistant.providers import get_provider

        provider = get_provider()
        parsed, usage = async_to_sync(provider.complete_json)(
            system=system,
            user=user,
            schema_name=self.name,
            schema=self.schema,
            max_tokens=self.max_tokens,
        )
        result = self.result.model_validate(parsed)
        return result, usage.prompt_tokens, usage.completion_tokens, provider.model

    def batch_line(self, custom_id: Any, messages: list[dict[str, str]], model: str) -> str:
        """One JSONL line of a Batch API input file: the question as a chat.completions
        request."""
        body = {
            "model": model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
            },
        }
        line = {"custom_id": str(custom_id), "method": "POST", "url": "/v1/chat/completions"}
        return json.dumps({**line, "body": body}, separators=(",", ":"), ensure_ascii=False)
