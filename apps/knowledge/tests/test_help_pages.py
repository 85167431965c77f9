from __future__ import annotations

import pytest
from django.test import Client

from apps.knowledge.markdown import render
from apps.knowledge.models import Article
from apps.knowledge.services import do_save_article

pytestmark = pytest.mark.django_db


def test_the_help_index_lists_published_articles_by_category(
    client: Client, help_center: object
) -> None:
    do_save_article(
        Article(title="Secret draft", slug="draft", category="Orders", body="x", published=False)
    )

    response = client.get("/help/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Shipping &amp; delivery" in html and "Returns &amp; refunds" in html
    assert 'href="/help/refund-timelines/"' in html
    assert "Secret draft" not in html


def test_an_article_page_renders_its_markdown(client: Client, help_center: object) -> None:
    response = client.get("/help/cancelling-an-order/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Cancelling an order</h1>" in html
    assert '<h2 id="when-an-order-can-be-cancelled">When an order can be cancelled</h2>' in html
    assert "<strong>pending</strong>" in html
    assert '<a href="/help/returns/">return</a>' in html


def test_an_unpublished_or_unknown_article_is_not_found(client: Client) -> None:
    do_save_article(
        Article(title="Draft", slug="draft", category="Orders", body="x", published=False)
    )
    assert client.get("/help/draft/").status_code == 404
    assert client.get("/help/nope/").status_code == 404


def test_html_in_an_article_body_is_escaped_on_the_page(client: Client) -> None:
    do_save_article(
        Article(
            title="Tricky <b>title</b>",
            slug="tricky",
            category="Orders",
            body='## Hi <img src=x onerror="alert(1)">\n<script>alert("x")</script>\n'
            '- [click](javascript:alert) and [ok](https://example.com/a?b=1&c="2")\n'
            "**<i>bold</i>** `<code>`",
        )
    )

    html = client.get("/help/tricky/").content.decode()

    assert "<script>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Tricky &lt;b&gt;title&lt;/b&gt;" in html
    assert 'href="javascript' not in html and '<a href="javascript' not in html
    assert '<a href="https://example.com/a?b=1&amp;c=&quot;2&quot;" rel="nofollow noopener' in html
    assert "<strong>&lt;i&gt;bold&lt;/i&gt;</strong>" in html
    assert "<code>&lt;code&gt;</code>" in html


def test_the_renderer_allows_only_headings_lists_emphasis_and_safe_links() -> None:
    html = render(
        "# Title\n\nSome *em* and _em_ text.\n\n1. one\n2. two\n\n- a\n- b\n\n"
        "[local](/help/x/) [bad](data:text/html,hi) [proto](//evil.example)"
    )
    assert '<h2 id="title">Title</h2>' in html
    assert "<p>Some <em>em</em> and <em>em</em> text.</p>" in html
    assert "<ol>\n<li>one</li>\n<li>two</li>\n</ol>" in html
    assert "<ul>\n<li>a</li>\n<li>b</li>\n</ul>" in html
    assert '<a href="/help/x/">local</a>' in html
    assert "data:" not in html and "evil.example" not in html
