"""Keep passages and the index stamp in step with articles, however they are saved."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Article, ArticleQuestion
from .services import do_bump_index, do_rebuild_passages


@receiver(post_save, sender=Article, dispatch_uid="knowledge_article_saved")
def article_saved(sender: type[Article], instance: Article, raw: bool = False, **_: Any) -> None:
    if raw:  # fixtures: passages are rebuilt by load_help_center
        return
    do_rebuild_passages(instance)


@receiver(post_delete, sender=Article, dispatch_uid="knowledge_article_deleted")
def article_deleted(sender: type[Article], instance: Article, **_: Any) -> None:
    do_bump_index()


@receiver(post_save, sender=ArticleQuestion, dispatch_uid="knowledge_question_saved")
@receiver(post_delete, sender=ArticleQuestion, dispatch_uid="knowledge_question_deleted")
def question_changed(sender: type[ArticleQuestion], instance: ArticleQuestion, **_: Any) -> None:
    # Saved in the admin's inline or by do_add_article_question: the index follows either way.
    do_bump_index()
