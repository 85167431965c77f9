from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import admin_cases, admin_gaps, admin_quality, views

app_name = "reports"

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path(
        "conversations/<uuid:conversation_id>/review/",
        admin.site.admin_view(admin_quality.review_now),
        name="review_now",
    ),
    path(
        "conversations/<uuid:conversation_id>/save-case/",
        admin.site.admin_view(admin_cases.save_case),
        name="save_case",
    ),
    path("gaps/find/", admin.site.admin_view(admin_gaps.find_gaps_now), name="find_gaps"),
    path(
        "gaps/conflicts/",
        admin.site.admin_view(admin_gaps.article_conflicts),
        name="article_conflicts",
    ),
]
