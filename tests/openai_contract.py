"""OpenAI's Chat Completions request contract, as the fake server enforces it.

`check_request(body)` returns the first violation as an `Invalid` (message, param,
code), worded the way OpenAI words its 400s, or None for a request OpenAI would
accept. The fake server (tests/fake_openai/) runs every request through it, and
apps/assistant/tests/test_openai_contract.py runs every tool schema and response
format the project sends through the same functions.

What is checked (from OpenAI's API reference and Structured Outputs guide):
- known top-level parameters only; `model` and a non-empty `messages`;
- messages: known roles; `content` where it is required; an assistant message with
  `tool_calls` answered by exactly one `tool` message per `tool_call_id`, right after
  it, and no `tool` message that answers nothing;
- tools: at most 128, `type: function`, names `^[a-zA-Z0-9_-]{1,64}$` and unique,
  parameters an object schema; `tool_choice` and `parallel_tool_calls` only with tools;
- strict schemas (tools with `strict: true`, `json_schema` with `strict: true`): root
  `type: object`; every object has `additionalProperties: false` and lists every
  property in `required`; no keyword strict mode refuses; at most 10 levels of
  nesting and 5000 properties;
- `stream_options` only with `stream: true`; `max_tokens` / `max_completion_tokens` in
  1..16384 and not both; `temperature` in 0..2, `top_p` in 0..1, `n` >= 1;
- `response_format`: `text`, `json_object` (only when the messages mention JSON) or
  `json_schema` with a valid name and schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]

MAX_TOOLS = 128
MAX_OUTPUT_TOKENS = 16_384  # gpt-4o-mini's completion limit
MAX_SCHEMA_DEPTH = 10
MAX_SCHEMA_PROPERTIES = 5000
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

KNOWN_PARAMETERS = {
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
}
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}

# Keywords strict mode refuses (Structured Outputs, "Some type-specific keywords are
# not yet supported"), as our contract lists them.
STRICT_REFUSED = {
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "propertyNames",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
}
STRICT_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}


@dataclass(frozen=True)
class Invalid:
    """One violation, as OpenAI reports it in its 400 body."""

    message: str
    param: str | None = None
    code: str | None = None

    def body(self) -> JsonDict:
        return {
            "error": {
                "message": self.message,
                "type": "invalid_request_error",
                "param": self.param,
                "code": self.code,
            }
        }


class _Refused(Exception):
    def __init__(self, invalid: Invalid) -> None:
        super().__init__(invalid.message)
        self.invalid = invalid


def _refuse(message: str, param: str | None = None, code: str | None = None) -> None:
    raise _Refused(Invalid(message, param, code))


# --- The whole request ----------------------------------------------------------------


def check_request(body: Any) -> Invalid | None:
    """The first way `body` breaks the contract, or None when OpenAI would accept it."""
    try:
        _check_request(body)
    except _Refused as refused:
        return refused.invalid
    return None


def _check_request(body: Any) -> None:
    if not isinstance(body, dict):
        _refuse("The request body must be a JSON object.", None, "invalid_type")
    for key in body:
        if key not in KNOWN_PARAMETERS:
            _refuse(f"Unrecognized request argument supplied: {key}", key, "unknown_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        _refuse("you must provide a model parameter", "model", "missing_required_parameter")
    _check_messages(body.get("messages"))
    _check_tools(body)
    _check_sampling(body)
    _check_stream(body)
    _check_response_format(body)
    key = body.get("prompt_cache_key")
    if key is not None and not isinstance(key, str):
        _refuse("Invalid type for 'prompt_cache_key': expected a string.", "prompt_cache_key")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        _refuse(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            "messages",
            "empty_array",
        )
    open_calls: list[str] = []  # ids of the last tool_calls still owed a tool message
    for index, message in enumerate(messages):
        where = f"messages.[{index}]"
        if not isinstance(message, dict):
            _refuse(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
        role = message.get("role")
        if role not in ROLES:
            _refuse(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'function', 'tool', and 'developer'.",
                f"{where}.role",
                "invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                _refuse(
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a "
                    "'tool_call_id'.",
                    f"{where}.tool_call_id",
                    "missing_required_parameter",
                )
            if call_id not in open_calls:
                _refuse(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"{where}.role",
                )
            open_calls.remove(call_id)
            _require_content(message, where)
            continue
        if open_calls:
            _refuse(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_calls)}",
                f"{where}.role",
            )
        if role == "assistant":
            calls = message.get("tool_calls")
            if calls is not None:
                open_calls = _check_tool_calls(calls, where)
            if not calls and message.get("function_call") is None:
                _require_content(message, where, refusal_ok=True)
            elif "content" in message and not _content_ok(message["content"], nullable=True):
                _refuse(f"Invalid type for '{where}.content'.", f"{where}.content", "invalid_type")
        else:
            _require_content(message, where)
    if open_calls:
        _refuse(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(open_calls)}",
            f"messages.[{len(messages) - 1}].role",
        )


def _check_tool_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list) or not calls:
        _refuse(
            f"Invalid '{where}.tool_calls': empty array. Expected an array with minimum length 1.",
            f"{where}.tool_calls",
            "empty_array",
        )
    ids: list[str] = []
    for number, call in enumerate(calls):
        at = f"{where}.tool_calls.[{number}]"
        if not isinstance(call, dict) or call.get("type") != "function":
            _refuse(f"Invalid value for '{at}.type'.", f"{at}.type", "invalid_value")
        if not isinstance(call.get("id"), str) or not call["id"]:
            _refuse(
                f"Missing required parameter: '{at}.id'.", f"{at}.id", "missing_required_parameter"
            )
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            _refuse(
                f"Missing required parameter: '{at}.function.name'.",
                f"{at}.function.name",
                "missing_required_parameter",
            )
        if not isinstance(function.get("arguments"), str):
            _refuse(
                f"Invalid type for '{at}.function.arguments': expected a string.",
                f"{at}.function.arguments",
                "invalid_type",
            )
        if call["id"] in ids:
            _refuse(f"Duplicate tool_call id '{call['id']}' in '{where}'.", f"{at}.id")
        ids.append(call["id"])
    return ids


def _content_ok(content: Any, *, nullable: bool = False) -> bool:
    if content is None:
        return nullable
    if isinstance(content, str):
        return True
    if isinstance(content, list) and content:
        return all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in content)
    return False


def _require_content(message: JsonDict, where: str, *, refusal_ok: bool = False) -> None:
    if refusal_ok and message.get("refusal") and message.get("content") is None:
        return
    if "content" not in message or message["content"] is None:
        _refuse(
            f"Missing required parameter: '{where}.content'.",
            f"{where}.content",
            "missing_required_parameter",
        )
    if not _content_ok(message["content"]):
        _refuse(
            f"Invalid type for '{where}.content': expected one of a string or array of objects.",
            f"{where}.content",
            "invalid_type",
        )


def _check_tools(body: JsonDict) -> None:
    tools = body.get("tools")
    if tools is None:
        for name in ("tool_choice", "parallel_tool_calls"):
            if name in body:
                _refuse(
                    f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are "
                    "specified.",
                    name,
                )
        return
    if not isinstance(tools, list) or not tools:
        _refuse(
            "Invalid 'tools': empty array. Expected an array with minimum length 1.",
            "tools",
            "empty_array",
        )
    if len(tools) > MAX_TOOLS:
        _refuse(
            f"Invalid 'tools': array too long. Expected an array with maximum length "
            f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
            "tools",
            "array_above_max_length",
        )
    names: set[str] = set()
    for index, spec in enumerate(tools):
        _check_tool(spec, f"tools[{index}]")
        name = spec["function"]["name"]
        if name in names:
            _refuse(f"Invalid 'tools': duplicate function name '{name}'.", f"tools[{index}]")
        names.add(name)
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in {"none", "auto", "required"}:
                _refuse(f"Invalid value for 'tool_choice': '{choice}'.", "tool_choice")
        elif isinstance(choice, dict):
            wanted = (choice.get("function") or {}).get("name")
            if wanted not in names:
                _refuse(
                    f"Invalid value for 'tool_choice': function '{wanted}' is not in 'tools'.",
                    "tool_choice",
                )
        else:
            _refuse("Invalid type for 'tool_choice'.", "tool_choice", "invalid_type")
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        _refuse(
            "Invalid type for 'parallel_tool_calls': expected a boolean.", "parallel_tool_calls"
        )


def _check_tool(spec: Any, param: str = "tools[0]") -> None:
    if not isinstance(spec, dict) or spec.get("type") != "function":
        _refuse(f"Invalid value for '{param}.type': expected 'function'.", f"{param}.type")
    function = spec.get("function")
    if not isinstance(function, dict):
        _refuse(f"Missing required parameter: '{param}.function'.", f"{param}.function")
    name = function.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        _refuse(
            f"Invalid '{param}.function.name': string does not match pattern. Expected a "
            "string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            f"{param}.function.name",
            "invalid_value",
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        _refuse(
            f"Invalid type for '{param}.function.description'.", f"{param}.function.description"
        )
    parameters = function.get("parameters")
    at = f"{param}.function.parameters"
    if parameters is None:
        if function.get("strict"):
            _refuse(f"Missing required parameter: '{at}'.", at, "missing_required_parameter")
        return
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        _refuse(
            f"Invalid schema for function '{name}': schema must be a JSON Schema of "
            "'type: \"object\"', got 'type: \"None\"'.",
            at,
            "invalid_function_parameters",
        )
    if function.get("strict"):
        problem = strict_schema_problem(parameters)
        if problem:
            _refuse(
                f"Invalid schema for function '{name}': {problem}",
                at,
                "invalid_function_parameters",
            )


def tool_problem(spec: Any) -> str | None:
    """Why OpenAI would refuse this entry of `tools`, or None."""
    try:
        _check_tool(spec)
    except _Refused as refused:
        return refused.invalid.message
    return None


def _check_sampling(body: JsonDict) -> None:
    if "max_tokens" in body and "max_completion_tokens" in body:
        _refuse(
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            "max_tokens",
            "invalid_value",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            _refuse(f"Invalid type for '{name}': expected an integer.", name, "invalid_type")
        if not 1 <= value <= MAX_OUTPUT_TOKENS:
            _refuse(
                f"{name} is too large: {value}. This model supports at most "
                f"{MAX_OUTPUT_TOKENS} completion tokens, whereas you provided {value}."
                if value > MAX_OUTPUT_TOKENS
                else f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                f"but got {value} instead.",
                name,
                "invalid_value" if value > MAX_OUTPUT_TOKENS else "integer_below_min_value",
            )
    for name, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            _refuse(f"Invalid type for '{name}': expected a number.", name, "invalid_type")
        if not low <= value <= high:
            _refuse(
                f"Invalid '{name}': decimal {'above maximum' if value > high else 'below minimum'}"
                f" value. Expected a value {'<=' if value > high else '>='} "
                f"{high if value > high else low}, but got {value} instead.",
                name,
                "decimal_above_max_value" if value > high else "decimal_below_min_value",
            )
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or n < 1):
        _refuse("Invalid 'n': integer below minimum value. Expected a value >= 1.", "n")


def _check_stream(body: JsonDict) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        _refuse("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    if body.get("stream_options") is not None and not stream:
        _refuse(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        )


def _check_response_format(body: JsonDict) -> None:
    response_format = body.get("response_format")
    if response_format is None:
        return
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        if not _mentions_json(body.get("messages") or []):
            _refuse(
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                "messages",
            )
        return
    if kind != "json_schema":
        _refuse(
            f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', "
            "and 'text'.",
            "response_format.type",
            "invalid_value",
        )
    problem = response_format_problem(response_format)
    if problem:
        _refuse(problem, "response_format")


def response_format_problem(response_format: Any) -> str | None:
    """Why OpenAI would refuse this `json_schema` response_format, or None."""
    spec = response_format.get("json_schema") if isinstance(response_format, dict) else None
    if not isinstance(spec, dict):
        return "Missing required parameter: 'response_format.json_schema'."
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        return (
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
        )
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return "Missing required parameter: 'response_format.json_schema.schema'."
    if spec.get("strict"):
        problem = strict_schema_problem(schema)
        if problem:
            return f"Invalid schema for response_format '{name}': {problem}"
    return None


def _mentions_json(messages: list[Any]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        texts = [content] if isinstance(content, str) else []
        if isinstance(content, list):
            texts = [part.get("text", "") for part in content if isinstance(part, dict)]
        if any("json" in text.lower() for text in texts):
            return True
    return False


# --- Strict schemas -------------------------------------------------------------------


def strict_schema_problem(schema: JsonDict) -> str | None:
    """Why strict mode would refuse this schema (OpenAI's wording), or None."""
    if schema.get("type") != "object" or "anyOf" in schema:
        return "schema must be a JSON Schema of 'type: \"object\"'."
    counter = [0]
    try:
        _strict_node(schema, (), defs=schema.get("$defs") or {}, depth=1, counter=counter)
    except _Refused as refused:
        return refused.invalid.message
    if counter[0] > MAX_SCHEMA_PROPERTIES:
        return f"a schema may have at most {MAX_SCHEMA_PROPERTIES} object properties in total."
    return None


def _strict_node(
    node: Any, context: tuple[str, ...], *, defs: JsonDict, depth: int, counter: list[int]
) -> None:
    where = f"In context={context!r}, "
    if not isinstance(node, dict):
        _refuse(f"{where}schema must be an object.")
    if depth > MAX_SCHEMA_DEPTH:
        _refuse(f"{where}the schema nests more than {MAX_SCHEMA_DEPTH} levels.")
    for keyword in node:
        if keyword in STRICT_REFUSED:
            _refuse(f"{where}'{keyword}' is not permitted.")
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/$defs/")):
            _refuse(f"{where}reference '{ref}' can't be resolved.")
        if ref != "#" and ref.split("/")[-1] not in defs:
            _refuse(f"{where}reference '{ref}' can't be resolved.")
        return  # the definition itself is checked once, under $defs
    for name, sub in (node.get("$defs") or {}).items():
        _strict_node(sub, (*context, "$defs", name), defs=defs, depth=depth, counter=counter)
    if "anyOf" in node:
        options = node["anyOf"]
        if not isinstance(options, list) or not options:
            _refuse(f"{where}'anyOf' must be a non-empty array.")
        for number, option in enumerate(options):
            _strict_node(
                option, (*context, "anyOf", str(number)), defs=defs, depth=depth, counter=counter
            )
        return
    kinds = node.get("type")
    if kinds is None:
        if "enum" in node or "const" in node:
            return
        _refuse(f"{where}schema must have a 'type' key.")
    kind_list = kinds if isinstance(kinds, list) else [kinds]
    for kind in kind_list:
        if kind not in STRICT_TYPES:
            _refuse(f"{where}type '{kind}' is not supported.")
    if "object" in kind_list:
        properties = node.get("properties")
        if properties is None:
            properties = {}
        if node.get("additionalProperties") is not False:
            _refuse(f"{where}'additionalProperties' is required to be supplied and to be false.")
        required = node.get("required")
        missing = [
            key for key in properties if not isinstance(required, list) or key not in required
        ]
        if missing or not isinstance(required, list):
            _refuse(
                f"{where}'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0] if missing else ''}'."
            )
        extra = [key for key in required if key not in properties]
        if extra:
            _refuse(f"{where}'required' names '{extra[0]}', which is not in properties.")
        counter[0] += len(properties)
        for name, sub in properties.items():
            _strict_node(
                sub, (*context, "properties", name), defs=defs, depth=depth + 1, counter=counter
            )
    if "array" in kind_list:
        items = node.get("items")
        if not isinstance(items, dict):
            _refuse(f"{where}array schema missing items.")
        _strict_node(items, (*context, "items"), defs=defs, depth=depth + 1, counter=counter)
