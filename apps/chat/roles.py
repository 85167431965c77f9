"""Staff groups and what each may do. Views check these permissions, not names."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

AGENTS = "Support agents"
MANAGERS = "Support managers"

# app_label.codename, as Django names permissions. Missing ones are skipped, so an
# app that is not installed does not break set-up.
GROUP_PERMISSIONS: dict[str, list[str]] = {
    AGENTS: [
        "chat.view_conversation",
        "chat.view_message",
        "orders.view_customer",
        "orders.view_order",
        "escalations.view_escalation",
        "escalations.change_escalation",
        "escalations.view_cannedreply",
        "escalations.add_agentnote",
        "escalations.view_agentnote",
        "knowledge.view_article",
        "reports.resend_transcript",
    ],
    MANAGERS: [
        "chat.view_conversation",
        "chat.export_conversation",
        "chat.view_message",
        "chat.view_turn",
        "chat.view_pendingaction",
        "orders.view_customer",
        "orders.view_order",
        "orders.view_orderauditevent",
        "escalations.view_escalation",
        "escalations.view_cannedreply",
        "escalations.change_cannedreply",
        "escalations.add_cannedreply",
        "escalations.view_agentnote",
        "escalations.view_copilotsuggestion",
        "knowledge.view_article",
        "knowledge.change_article",
        "knowledge.add_article",
        "knowledge.view_unansweredquestion",
        "knowledge.view_articlequestion",
        "knowledge.add_articlequestion",
        "knowledge.change_articlequestion",
        "knowledge.delete_articlequestion",
        "assistant.view_operatorpolicy",
        "assistant.change_operatorpolicy",
        "assistant.add_operatorpolicy",
        "reports.view_dashboard",
        "reports.view_staffauditevent",
        "reports.view_conversationanalysis",
        "reports.view_transcriptdelivery",
        "reports.resend_transcript",
        "reports.view_qualityreview",
        "reports.judge_qualityreview",
        "reports.view_rubriccriterion",
        "reports.change_rubriccriterion",
        "reports.add_rubriccriterion",
        "reports.view_articledraft",
        "reports.change_articledraft",
        "reports.approve_articledraft",
        "reports.view_savedcase",
        "reports.add_savedcase",
        "reports.change_savedcase",
        "reports.delete_savedcase",
        "reports.view_policytrial",
        "reports.change_policytrial",
    ],
}


def ensure_groups() -> dict[str, Group]:
    groups = {}
    for name, perms in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)
        groups[name] = group
    return groups
