from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("api/conversations/", views.create_conversation, name="create-conversation"),
]
