from __future__ import annotations

from django.urls import path

from . import demo_store, embed, views

urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("api/conversations/", views.create_conversation, name="create-conversation"),
    path(
        "api/conversations/<str:conversation_id>/photos/",
        views.upload_photo,
        name="upload-photo",
    ),
    path("attachments/<str:signed>/", views.attachment, name="attachment"),
    path("widget.js", embed.widget_script, name="widget-js"),
    path("embed/", embed.embed_frame, name="embed-frame"),
    path("embed/check/", embed.embed_check, name="embed-check"),
    path("demo-store/", demo_store.home, name="demo-store"),
    path("demo-store/trail/", demo_store.trail, name="demo-store-trail"),
    path("demo-store/sign-in/", demo_store.sign_in, name="demo-store-sign-in"),
]
