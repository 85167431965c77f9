"""Realistic demo history for the dashboard: conversations over N days with messages,
audited turns (tokens, cost, time to first token), confirmations, hand-offs to agents,
flagged attempts, CSAT ratings and analyses. Written with bulk_create, so a month of
history (or the benchmark's 100,000 messages) takes seconds.

`history.py` draws the days and each conversation's scenario, `scenarios.py` plays the
scenario on the one builder in `conversation.py`, with the lines in `phrases.py`, and
`writing.py` writes a day's rows. Seeded conversations carry `client_key =
SEED_CLIENT_KEY`; seeding again replaces them (same seed, same data) and leaves
conversations from real chats alone."""

from __future__ import annotations

from .history import seed_conversations
from .writing import SEED_CLIENT_KEY, SeedStats

__all__ = ["SEED_CLIENT_KEY", "SeedStats", "seed_conversations"]
