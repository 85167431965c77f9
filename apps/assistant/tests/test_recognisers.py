"""One recogniser each for an email, a zip code, an order id and a request for a person,
read the same way by the offline assistant, escalation detection and the provenance check
(escalations/tests/test_detection.py checks that detection reads through these)."""

from __future__ import annotations

from apps.assistant import provenance
from apps.assistant.recognisers import EMAIL, ORDER_ID, ZIP, asks_for_human, email_in


def test_provenance_reads_emails_and_zip_codes_with_the_shared_recognisers() -> None:
    assert provenance.EMAIL is EMAIL and provenance.ZIP is ZIP


def test_an_email_with_accented_letters_is_read_whole() -> None:
    assert email_in("write to josé.núñez@example.com please") == "josé.núñez@example.com"


def test_an_email_inside_a_longer_token_is_not_read() -> None:
    assert email_in("user@example.c0m") is None
    assert email_in("no address here") is None


def test_an_order_id_is_read_and_its_digits_are_not_a_zip_code() -> None:
    text = "order #W1234567 to 90210"
    assert [m.group(1) for m in ORDER_ID.finditer(text)] == ["W1234567"]
    assert [m.group(1) for m in ZIP.finditer(text)] == ["90210"]


def test_asking_about_hours_is_not_asking_for_a_person() -> None:
    assert asks_for_human("can I talk to someone right now?")
    assert not asks_for_human("can I talk to someone on Sunday?")
