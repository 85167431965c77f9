"""The judge: the store's end state against the state the reference actions leave.

As tau2-bench does for its database check, an episode passes when the customers
and orders after the conversation equal, exactly, those after replaying the
scenario's reference actions on a fresh store. Both are compared as a hash of
canonical JSON (sorted keys, no spaces), so any difference fails: a wrong item, a
wrong payment method, a change made twice or not at all.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction

from apps.orders.services import Actor, StoreError, export_store, run_action

from .scenarios import Scenario


class _Rollback(Exception):
    pass


def state_hash(state: dict[str, Any]) -> str:
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def store_state() -> dict[str, Any]:
    """The judged part of the store: customers and orders (products never change)."""
    exported = export_store()
    return {"users": exported["users"], "orders": exported["orders"]}


def expected_hash(scenario: Scenario) -> tuple[str, list[str]]:
    """The hash after replaying the reference actions on the store as it is now (a fresh
    one), and the actions the store refused; the replay is rolled back."""
    refused: list[str] = []
    digest = ""
    actor = Actor.replay(f"evaluate:{scenario.id}")
    try:
        with transaction.atomic():
            for action in scenario.actions:
                try:
                    run_action(action["name"], action["arguments"], actor=actor)
                except StoreError as exc:
                    refused.append(f"{action['name']}: {exc.reason}")
            digest = state_hash(store_state())
            raise _Rollback
    except _Rollback:
        pass
    return digest, refused
