"""The recorded OpenAI streams (tests/fixtures/openai-sse) and what each one holds.

test_stream_parser.py feeds them to the chunk assembler, test_openai_provider.py
serves them to the real `openai` client; both expect the events written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apps.assistant.providers.base import Finished, StreamEvent, ToolCall, ToolCallsReady, Usage
from tests.fake_openai import FIXTURES

SF_61 = '{"city":"San Francisco","temperature":61,"units":"f"}'

FORECAST = """
  {
    "location": "San Francisco, CA",
    "weather": {
      "temperature": "18°C",
      "condition": "Partly Cloudy",
      "humidity": "72%",
      "windSpeed": "15 km/h",
      "windDirection": "NW"
    },
    "forecast": [
      {
        "day": "Monday",
        "high": "20°C",
        "low": "14°C",
        "condition": "Sunny"
      },
      {
        "day": "Tuesday",
        "high": "19°C",
        "low": "15°C",
        "condition": "Mostly Cloudy"
      },
      {
        "day": "Wednesday",
        "high": "18°C",
        "low": "14°C",
        "condition": "Cloudy"
      }
    ]
  }
"""


@dataclass(frozen=True)
class Expected:
    text: str
    calls: tuple[ToolCall, ...]
    finish: str
    usage: Usage
    refused: bool = False

    def closing(self) -> list[StreamEvent]:
        """The events after the text: the tool calls, if any, the usage, the finish."""
        tail: list[StreamEvent] = []
        if self.calls:
            tail.append(ToolCallsReady(calls=self.calls))
        return [*tail, self.usage, Finished(reason=self.finish)]


EXPECTED: dict[str, Expected] = {
    # a refusal, in the `refusal` field
    "173417d5": Expected(
        text="I'm sorry, I can't assist with that request.",
        calls=(),
        finish="stop",
        usage=Usage(79, 11),
        refused=True,
    ),
    # one tool call
    "2018feb6": Expected(
        text="",
        calls=(
            ToolCall("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", '{"city":"New York City"}'),
        ),
        finish="tool_calls",
        usage=Usage(44, 16),
    ),
    # cut by max_tokens after one token
    "4cc50a61": Expected(text='{"', calls=(), finish="length", usage=Usage(79, 1)),
    # a refusal with logprobs
    "569c877e": Expected(
        text="I'm very sorry, but I can't assist with that.",
        calls=(),
        finish="stop",
        usage=Usage(79, 12),
        refused=True,
    ),
    # structured output as content
    "7e5ea4d1": Expected(text=SF_61, calls=(), finish="stop", usage=Usage(79, 14)),
    # plain text with logprobs
    "83b060ba": Expected(text="Foo!", calls=(), finish="stop", usage=Usage(9, 2)),
    "a247c49c": Expected(
        text="",
        calls=(
            ToolCall(
                "call_CTf1nWJLqSeRgDqaCG27xZ74",
                "get_weather",
                '{"city":"San Francisco","state":"CA"}',
            ),
        ),
        finish="tool_calls",
        usage=Usage(48, 19),
    ),
    # n=3: three interleaved choices; we follow choice 0
    "a491adda": Expected(
        text='{"city":"San Francisco","temperature":65,"units":"f"}',
        calls=(),
        finish="stop",
        usage=Usage(79, 42),
    ),
    # a strict-schema tool call
    "c6aa7e39": Expected(
        text="",
        calls=(
            ToolCall(
                "call_c91SqDXlYFuETYv8mUHzz6pp",
                "GetWeatherArgs",
                '{"city":"Edinburgh","country":"UK","units":"c"}',
            ),
        ),
        finish="tool_calls",
        usage=Usage(76, 24),
    ),
    # 180 chunks of multi-line text with non-ASCII characters
    "d6155801": Expected(text=FORECAST, calls=(), finish="stop", usage=Usage(19, 177)),
    "e2aad469": Expected(
        text=(
            "I'm unable to provide real-time weather updates. To get the current weather in "
            "San Francisco, I recommend checking a reliable weather website or a weather app."
        ),
        calls=(),
        finish="stop",
        usage=Usage(14, 30),
    ),
    # two parallel tool calls, index 0 and 1
    "f82268f2": Expected(
        text="",
        calls=(
            ToolCall(
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                '{"city": "Edinburgh", "country": "GB", "units": "c"}',
            ),
            ToolCall(
                "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                "get_stock_price",
                '{"ticker": "AAPL", "exchange": "NASDAQ"}',
            ),
        ),
        finish="tool_calls",
        usage=Usage(149, 60),
    ),
}


def recorded(prefix: str) -> Path:
    (path,) = FIXTURES.glob(f"{prefix}*.sse")
    return path
