from __future__ import annotations

from django.urls import path

from . import views

app_name = "knowledge"

urlpatterns = [
    path("", views.help_index, name="index"),
    path("<slug:slug>/", views.article_page, name="article"),
]
