"""The tool registry.

A tool is declared once: a handler function whose argument model (a pydantic
class) and docstring are its contract with the model. The strict OpenAI schema
is generated from that declaration. Handlers are plain synchronous functions;
the turn engine runs them in a worker thread because they use the ORM.

Authorization lives here and in the handlers, never in the model: a handler gets
the verified customer from `ToolContext`, built from the conversation row, and a
tool marked `access="verified"` is neither offered nor run before verification.
An argument that identifies a person is marked `CustomerFact`; `ToolSpec.run`
refuses the call unless the customer typed each such value (see provenance.py).

A change tool (`confirm=True`) never changes anything when the model calls it:
its handler checks the request and returns a `Proposal`. The change runs only
when the customer's own `confirm` frame arrives, through the function registered
with `@executor(name)`.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ValidationError

from . import provenance
from .guardrails import Verdict
from .provenance import FactKind

Access = Literal["public", "unverified", "verified"]


@dataclass(frozen=True)
class ToolContext:
    conversation_id: uuid.UUID
    customer_id: str | None  # the verified customer's store id, from the conversation row
    turn_id: uuid.UUID | None = None
    # What the customer typed in this conversation: the only source of identity facts.
    customer_texts: tuple[str, ...] = ()
    # Failed verification attempts so far, from the conversation row.
    verification_failures: int = 0


@dataclass(frozen=True)
class Citation:
    article_id: int
    title: str
    url: str


@dataclass(frozen=True)
class Proposal:
    """A change the customer must confirm: a plain summary and the exact figures."""

    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Verification:
    """The outcome of a verification attempt, for the chat engine to record on the
    conversation: the customer to bind, or (customer_id None) one more failure."""

    customer_id: str | None
    method: str = ""


@dataclass
class ToolResult:
    data: Any  # JSON-able; what the model reads, wrapped as untrusted data
    ok: bool = True
    citations: list[Citation] = field(default_factory=list)
    proposal: Proposal | None = None
    verdicts: list[Verdict] = field(default_factory=list)  # for the turn's audit
    # Set by a tool that checks who the customer is; tools never write the conversation.
    verification: Verification | None = None


class ToolError(Exception):
    """A refusal the model should read and explain (not found, not allowed, bad input)."""


def validation_problems(exc: ValidationError) -> str:
    """What is wrong with a tool's arguments, on one line the model can act on."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
        for err in exc.errors()
    )


Handler = Callable[[ToolContext, Any], ToolResult]


@dataclass
class ToolSpec:
    name: str
    description: str
    args_model: type[BaseModel]
    handler: Handler
    access: Access = "public"
    confirm: bool = False
    status: Callable[[BaseModel], str] | None = None
    execute: Handler | None = None
    facts: dict[str, FactKind] = field(default_factory=dict)  # arguments the customer types
    _schema: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def parse(self, raw_arguments: str) -> BaseModel:
        """Validate the model's raw JSON arguments; raise ToolError with a readable reason."""
        try:
            payload = json.loads(raw_arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolError(f"arguments are not valid JSON: {exc.msg}") from None
        try:
            return self.args_model.model_validate(payload)
        except ValidationError as exc:
            raise ToolError(f"invalid arguments: {validation_problems(exc)}") from None

    def run(self, ctx: ToolContext, args: BaseModel) -> ToolResult:
        """Run the handler, unless an identity fact did not come from the customer."""
        if self.facts:
            untyped = provenance.untyped(self.facts, args.model_dump(), ctx.customer_texts)
            if untyped:
                return ToolResult(
                    ok=False,
                    data=provenance.refusal(self.facts, untyped),
                    verdicts=[provenance.verdict(self.name, untyped)],
                )
        return self.handler(ctx, args)

    def status_text(self, args: BaseModel) -> str:
        if self.status is not None:
            return self.status(args)
        return f"Working on it ({self.name.replace('_', ' ')})…"

    def allowed(self, ctx: ToolContext) -> bool:
        if self.access == "verified":
            return ctx.customer_id is not None
        if self.access == "unverified":
            return ctx.customer_id is None
        return True

    def openai_schema(self) -> dict[str, Any]:
        # Built once per tool: the schema follows from the declaration, which never changes.
        if self._schema is None:
            self._schema = self._build_schema()
        return self._schema

    def _build_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": strict_schema(self.args_model),
                "strict": True,
            },
        }


REGISTRY: dict[str, ToolSpec] = {}


def tool(
    *,
    access: Access = "public",
    confirm: bool = False,
    status: Callable[[Any], str] | None = None,
    name: str | None = None,
    args: type[BaseModel] | None = None,
    description: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler `(ctx, args: SomeArgs) -> ToolResult` as a tool.

    The argument model comes from the handler's annotation and the description from
    its docstring, unless a declaration elsewhere (an order action) passes them."""

    def register(handler: Handler) -> Handler:
        params = list(inspect.signature(handler).parameters)
        if len(params) != 2:
            raise TypeError(f"tool {handler.__name__} must take (ctx, args)")
        args_model = args or get_type_hints(handler)[params[1]]
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"tool {handler.__name__}: args must be a pydantic model")
        tool_name = name or handler.__name__
        contract = inspect.cleandoc(description or handler.__doc__ or "")
        if not contract:
            raise TypeError(f"tool {tool_name} needs a docstring: it is its contract")
        if tool_name in REGISTRY and REGISTRY[tool_name].handler is not handler:
            raise ValueError(f"tool {tool_name} is registered twice")
        REGISTRY[tool_name] = ToolSpec(
            name=tool_name,
            description=contract,
            args_model=args_model,
            handler=handler,
            access=access,
            confirm=confirm,
            status=status,
            execute=REGISTRY[tool_name].execute if tool_name in REGISTRY else None,
            facts={
                field_name: marker.kind
                for field_name, info in args_model.model_fields.items()
                for marker in info.metadata
                if isinstance(marker, provenance.CustomerFact)
            },
        )
        return handler

    return register


def executor(tool_name: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out a confirmed change tool."""

    def register(func: Handler) -> Handler:
        spec = REGISTRY.get(tool_name)
        if spec is None or not spec.confirm:
            raise ValueError(f"executor for unknown or non-confirm tool {tool_name}")
        spec.execute = func
        return func

    return register


def tools_for(ctx: ToolContext) -> list[ToolSpec]:
    return [spec for spec in REGISTRY.values() if spec.allowed(ctx)]


def get_tool(tool_name: str) -> ToolSpec | None:
    return REGISTRY.get(tool_name)


# Every structured-output (json_schema) call the project makes, by schema name, so a
# test can hold each against OpenAI's contract.
RESPONSE_FORMATS: dict[str, dict[str, Any]] = {}


def response_format(name: str, schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """Declare the strict schema a `complete_json(schema_name=name)` call answers in."""
    built = strict_schema(schema) if isinstance(schema, type) else schema
    RESPONSE_FORMATS[name] = built
    return built


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict mode accepts.

    Strict mode wants every property required, `additionalProperties: false` on
    every object, and no `default`s; optional fields are expressed as a union
    with null by the argument model itself.
    """
    schema = model.model_json_schema()
    return _strictify(schema)


def _strictify(node: Any) -> Any:
    if isinstance(node, dict):
        cleaned: dict[str, Any] = {}
        for key, value in node.items():
            if key in {"default", "title", "examples"}:
                continue
            if key in {"properties", "$defs"}:
                # Keys here are field names, not schema keywords: keep them all.
                cleaned[key] = {name: _strictify(sub) for name, sub in value.items()}
            else:
                cleaned[key] = _strictify(value)
        if cleaned.get("type") == "object" or "properties" in cleaned:
            props = cleaned.get("properties", {})
            cleaned["properties"] = props
            cleaned["required"] = list(props)
            cleaned["additionalProperties"] = False
        return cleaned
    if isinstance(node, list):
        return [_strictify(item) for item in node]
    return node
