from __future__ import annotations

from django.urls import path

from . import copilot_views, inbox_views, views

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
    # The agents' inbox (three panes) and its own changes.
    path("inbox/", inbox_views.workspace, name="inbox"),
    path("inbox/<uuid:conversation_id>/", inbox_views.workspace, name="inbox-conversation"),
    path("presence/", inbox_views.presence, name="presence"),
    path("copilot/", inbox_views.copilot_report, name="copilot-report"),
    path("conversations/<uuid:conversation_id>/transfer/", inbox_views.transfer, name="transfer"),
    path("conversations/<uuid:conversation_id>/read/", inbox_views.mark_read, name="read"),
    path(
        "conversations/<uuid:conversation_id>/copilot/suggest/",
        copilot_views.suggest,
        name="copilot-suggest",
    ),
    path(
        "conversations/<uuid:conversation_id>/copilot/summary/",
        copilot_views.summarise,
        name="copilot-summary",
    ),
    path("copilot/<int:suggestion_id>/discard/", copilot_views.discard, name="copilot-discard"),
]
