"""The public help pages: an index by category and one page per article."""

from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from .markdown import render as render_markdown
from .models import Article


@require_safe
def help_index(request: HttpRequest) -> HttpResponse:
    articles = Article.objects.filter(published=True).only("title", "slug", "category")
    categories = [
        (category, list(items))
        for category, items in groupby(
            articles.order_by("category", "title"), key=lambda a: a.category
        )
    ]
    return render(request, "knowledge/index.html", {"categories": categories})


@require_safe
def article_page(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article, slug=slug, published=True)
    related = (
        Article.objects.filter(published=True, category=article.category)
        .exclude(pk=article.pk)
        .only("title", "slug")[:6]
    )
    return render(
        request,
        "knowledge/article.html",
        {"article": article, "body_html": render_markdown(article.body), "related": related},
    )
