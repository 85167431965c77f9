"""The words that ask for a person, show frustration, or accept an offer."""

from __future__ import annotations

import pytest

from apps.escalations.detection import (
    asks_for_human,
    email_in,
    frustration_score,
    is_frustrated,
    is_yes,
)

ASKS_FOR_A_PERSON = [
    "talk to a human",
    "I want to talk to a real person please",
    "Can I speak to someone?",
    "speak with an agent",
    "let me talk to a representative",
    "connect me to an agent",
    "transfer me to a human",
    "put me through to customer service",
    "get me a human",
    "human please",
    "Agent!",
    "representative",
    "operator",
    "real person",
    "I need a representative",
    "I'd like to speak to a manager",
    "can I chat with a live agent",
    "is there a real human I can talk to",
    "this bot is useless",
    "this stupid bot can't help me",
    "you are not helping, get me a person",
    "escalate this please",
    "I want a human, not a bot",
    "no more bots please, a person",
    "Could you pass me to your support team?",
    "I would like to speak to somebody from staff",
    "give me a real person now",
    "are you a bot? I want a human",
    "Speak to someone",
]

NOT_A_REQUEST = [
    "hello",
    "where is my order #W1234567?",
    "can I talk to someone on the weekend?",
    "what are your business hours for talking to an agent?",
    "how do I return a jacket",
    "thanks, that's all",
    "my person of contact moved house",
    "I want to cancel my order",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_it_recognises_a_request_for_a_person(text):
    assert asks_for_human(text)


@pytest.mark.parametrize("text", NOT_A_REQUEST)
def test_it_leaves_other_messages_alone(text):
    assert not asks_for_human(text)


def test_strong_words_count_more_than_a_complaint_and_calm_words_nothing():
    assert frustration_score("where is my order?") == 0
    assert frustration_score("it still hasn't arrived") == 1
    assert frustration_score("this is ridiculous") >= 2
    assert frustration_score("WHY IS NOTHING WORKING HERE") >= 1


def test_repeated_complaints_count_as_frustration():
    assert not is_frustrated(["where is my order?"])
    assert not is_frustrated(["it still hasn't arrived"])
    assert is_frustrated(["it still hasn't arrived", "that didn't help, I already told you"])
    assert is_frustrated(["hello", "this is a waste of my time"])


def test_yes_and_emails_are_read_plainly():
    assert is_yes("yes please") and is_yes("Sure!") and is_yes("ok")
    assert not is_yes("yes but what about my refund?")
    assert email_in("write to me at jo.smith+x@example.co.uk thanks") == "jo.smith+x@example.co.uk"


def test_detection_reads_through_the_assistants_shared_recognisers() -> None:
    from apps.assistant import recognisers
    from apps.escalations import detection

    assert detection.asks_for_human is recognisers.asks_for_human
    assert detection.email_in is recognisers.email_in
    assert detection.is_yes is recognisers.is_yes
