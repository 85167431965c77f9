from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.knowledge.evaluation import load_questions, run_eval

pytestmark = pytest.mark.django_db


def test_the_labelled_set_is_big_enough_and_names_real_articles(help_center: object) -> None:
    from apps.knowledge.models import Article

    questions = load_questions()
    covered = [q for q in questions if q.slug is not None]
    uncovered = [q for q in questions if q.slug is None]
    assert len(covered) >= 80 and len(uncovered) >= 15
    slugs = set(Article.objects.values_list("slug", flat=True))
    assert {q.slug for q in covered} <= slugs
    assert Article.objects.filter(published=True).count() >= 25


def test_search_meets_the_recall_and_not_covered_targets(help_center: object) -> None:
    report = run_eval(load_questions())

    assert report.recall_at_3 >= 0.87, report.misses
    assert report.not_covered_rate >= 0.8, report.misses
    assert report.recall_at_1 <= report.recall_at_3


def test_the_eval_command_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("eval_help_center")
    out = capsys.readouterr().out
    assert "recall@1:" in out and "recall@3:" in out and "not covered recognised:" in out
