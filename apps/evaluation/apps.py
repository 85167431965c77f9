from __future__ import annotations

from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """`manage.py evaluate`: the product against simulated customers (tau2-bench style).

    It drives the chat engine, so it sits above the chat app; nothing imports it."""

    name = "apps.evaluation"
    label = "evaluation"
