"""Keep passages and the index stamp in step with articles, however they are saved."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .embeddings import embeddings_enabled
from .models import Article, ArticleQuestion, IndexState
from .services import do_rebuild_passages
from .tasks import embed_article_task


@receiver(post_save, sender=Article, dispatch_uid="knowledge_article_saved")
def article_saved(sender: type[Article], instance: Article, raw: bool = False, **_: Any) -> None:
    if raw:  # fixtures: passages are rebuilt by load_help_center
        return
    do_rebuild_passages(instance)
    enqueue_embedding(instance.pk)


@receiver(post_delete, sender=Article, dispatch_uid="knowledge_article_deleted")
def article_deleted(sender: type[Article], instance: Article, **_: Any) -> None:
    IndexState.bump()


@receiver(post_save, sender=ArticleQuestion, dispatch_uid="knowledge_question_saved")
@receiver(post_delete, sender=ArticleQuestion, dispatch_uid="knowledge_question_deleted")
def question_changed(sender: type[ArticleQuestion], instance: ArticleQuestion, **_: Any) -> None:
    # Saved in the admin's inline or by do_add_article_question: the index follows either way.
    IndexState.bump()
    enqueue_embedding(instance.article_id)


def enqueue_embedding(article_id: int) -> None:
    """With a key, embed the article's new texts once the change has committed."""
    if embeddings_enabled():
        # robust: a broker hiccup must not undo the save; embed_help_center catches up.
        transaction.on_commit(lambda: embed_article_task.delay(article_id), robust=True)
