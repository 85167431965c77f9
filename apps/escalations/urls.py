from __future__ import annotations

from django.urls import path

from . import views

app_name = "escalations"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("escalations/<int:escalation_id>/claim/", views.claim, name="claim"),
    path("conversations/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("conversations/<uuid:conversation_id>/take-over/", views.take_over, name="take-over"),
    path("conversations/<uuid:conversation_id>/reply/", views.reply, name="reply"),
    path("conversations/<uuid:conversation_id>/hand-back/", views.hand_back, name="hand-back"),
    path("conversations/<uuid:conversation_id>/close/", views.close, name="close"),
    path("conversations/<uuid:conversation_id>/notes/", views.add_note, name="add-note"),
]
