"""Provider error codes are one enum; each code says whether another attempt may help."""

from __future__ import annotations

import pytest

from apps.assistant.providers.base import ErrorCode, ProviderError


def test_an_error_code_outside_the_enum_is_refused() -> None:
    with pytest.raises(ValueError):
        ProviderError("rate-limited", "a typo in a code would reach the customer's frame")


def test_transient_failures_are_retried_and_request_failures_are_not() -> None:
    retried = {code for code in ErrorCode if ProviderError(code, "x").retryable}
    assert retried == {"rate_limited", "timeout", "provider_unavailable", "stream_broken"}


def test_a_failure_can_override_its_codes_default() -> None:
    quota = ProviderError(ErrorCode.RATE_LIMITED, "insufficient_quota", retryable=False)
    assert quota.code == "rate_limited" and not quota.retryable
    assert ProviderError("auth", "x", retryable=True).retryable
