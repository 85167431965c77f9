"""Changing the operator policy offers a trial first: the saved cases and the tau2-bench
train split under the current and the proposed policy, pass rates side by side; the
manager then publishes the proposal (or not). The assistant app's policy admin is
extended here so that the assistant app never depends on this one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from apps.assistant.admin import OperatorPolicyAdmin
from apps.assistant.models import OperatorPolicy

from . import policy_trials
from .models import PolicyTrial


class TrialFirstOperatorPolicyAdmin(OperatorPolicyAdmin):
    change_form_template = "reports/operatorpolicy_change_form.html"

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and "_trial" in request.POST:
            obj = self.get_object(request, object_id) if object_id else None
            allowed = (
                self.has_change_permission(request, obj)
                if obj
                else self.has_add_permission(request)
            )
            if allowed:
                form = self.get_form(request, obj)(request.POST, instance=obj)
                if form.is_valid():
                    trial = policy_trials.do_start_policy_trial(
                        {k: form.cleaned_data[k] for k in OperatorPolicy.RULE_FIELDS},
                        user_id=request.user.pk,
                    )
                    self.message_user(
                        request,
                        "Nothing is published yet: the saved cases and the τ² train split "
                        "now run under the current and the proposed policy.",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:reports_policytrial_change", args=[trial.pk])
                    )
        extra = {**(extra_context or {}), "trial_possible": bool(settings.OPENAI_API_KEY)}
        return super().changeform_view(request, object_id, form_url, extra)


admin.site.unregister(OperatorPolicy)
admin.site.register(OperatorPolicy, TrialFirstOperatorPolicyAdmin)


def _pass_rate(suite: str, side: str, label: str) -> Callable[[Any, PolicyTrial], str]:
    """A column: the trial's pass rate on `suite` under the current (before) or the
    proposed (after) policy."""

    @admin.display(description=label)
    def column(model_admin: Any, obj: PolicyTrial) -> str:
        return policy_trials.rate(getattr(obj, side), suite)

    return column


@admin.register(PolicyTrial)
class PolicyTrialAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "status",
        "tau2_before",
        "tau2_after",
        "cases_before",
        "cases_after",
        "published_version",
    )
    readonly_fields = (
        "status",
        "changes",
        "tau2_before",
        "tau2_after",
        "cases_before",
        "cases_after",
        "based_on_version",
        "published_version",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    fields = readonly_fields
    change_form_template = "reports/policytrial_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    tau2_before = _pass_rate("tau2", "before", "τ² train, before")
    tau2_after = _pass_rate("tau2", "after", "τ² train, after")
    cases_before = _pass_rate("cases", "before", "saved cases, before")
    cases_after = _pass_rate("cases", "after", "saved cases, after")

    @admin.display(description="proposed changes")
    def changes(self, obj: PolicyTrial) -> str:
        current = policy_trials.policy_fields(OperatorPolicy.current())
        changed = [(k, v) for k, v in obj.proposed.items() if current.get(k) != v]
        if not changed:
            return "None (the same as the current policy)."
        return format_html(
            "".join("<div><b>{}</b>: {}</div>" for _ in changed),
            *[part for pair in changed for part in pair],
        )

    def response_change(self, request: HttpRequest, obj: PolicyTrial) -> HttpResponse:
        if "_publish" in request.POST:
            if not request.user.has_perm("assistant.change_operatorpolicy"):
                raise PermissionDenied
            try:
                policy = policy_trials.do_publish_trial(obj.pk, user=request.user)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Published as version {policy.version}.")
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)
