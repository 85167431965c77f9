from __future__ import annotations

import base64
import json
import time

import pytest
from pytest_django.fixtures import Settings

from apps.orders.identity import IdentityTokenError, make_identity_token, read_identity_token


@pytest.fixture(autouse=True)
def _secret(settings: Settings) -> None:
    settings.SUPPORTBOT_IDENTITY_SECRET = "test-identity-secret"


def test_a_valid_token_names_its_customer() -> None:
    token = make_identity_token("noah_brown_6181")

    assert read_identity_token(token) == "noah_brown_6181"


def test_an_expired_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_identity_token("noah_brown_6181", ttl_seconds=60)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)

    assert read_identity_token(token) is None


def test_a_token_with_a_changed_payload_is_refused() -> None:
    token = make_identity_token("noah_brown_6181")
    payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = "james_li_5688"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()

    assert read_identity_token(f"{forged}.{signature}") is None


def test_a_token_signed_with_another_secret_is_refused(settings: Settings) -> None:
    settings.SUPPORTBOT_IDENTITY_SECRET = "someone-else"
    token = make_identity_token("noah_brown_6181")
    settings.SUPPORTBOT_IDENTITY_SECRET = "test-identity-secret"

    assert read_identity_token(token) is None


@pytest.mark.parametrize("junk", ["", ".", "abc", "abc.def", "a.b.c", "é.é", "x" * 5000])
def test_junk_is_refused(junk: str) -> None:
    assert read_identity_token(junk) is None


def test_no_token_is_issued_or_accepted_without_a_secret(settings: Settings) -> None:
    token = make_identity_token("noah_brown_6181")
    settings.SUPPORTBOT_IDENTITY_SECRET = ""

    assert read_identity_token(token) is None
    with pytest.raises(IdentityTokenError):
        make_identity_token("noah_brown_6181")
