"""The operator policy (prompt layer 2) in the admin.

A policy row is never updated in place: saving the form publishes a new
version (the highest version + 1) and keeps every earlier one as read-only
history, so each turn's recorded `operator.v1@<version>` still means what it
meant. Only superusers and users holding the model's change permission may
publish; nobody may delete a version.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.forms import ModelForm
from django.http import HttpRequest

from apps.assistant.models import OperatorPolicy

_PUBLISH_ATTEMPTS = 3


def do_publish_operator_policy(
    policy: OperatorPolicy, *, user: AbstractBaseUser | AnonymousUser | None
) -> OperatorPolicy:
    """Insert `policy`'s fields as a new version; the row it was loaded from stays as is."""
    for attempt in range(_PUBLISH_ATTEMPTS):
        try:
            with transaction.atomic():
                latest = OperatorPolicy.latest_version()
                policy.pk = None
                policy._state.adding = True
                policy.version = latest + 1
                policy.created_by = user if user is not None and user.is_authenticated else None  # type: ignore[assignment]
                policy.save(force_insert=True)
            return policy
        except IntegrityError:
            # Two editors saved at once and took the same number: count again.
            if attempt == _PUBLISH_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@admin.register(OperatorPolicy)
class OperatorPolicyAdmin(admin.ModelAdmin):
    list_display = ("version", "store_name", "created_at", "created_by", "is_current")
    list_display_links = ("version", "store_name")
    ordering = ("-version",)
    readonly_fields = ("version", "created_at", "created_by")
    fields = ("version", *OperatorPolicy.RULE_FIELDS, "created_at", "created_by")
    actions = None

    @admin.display(boolean=True, description="in use")
    def is_current(self, obj: OperatorPolicy) -> bool:
        return obj.version == OperatorPolicy.latest_version()

    # -- who may do what ---------------------------------------------------------

    def _may_publish(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and (user.is_superuser or user.has_perm("assistant.change_operatorpolicy"))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_publish(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self._may_publish(request):
            return False
        # Older versions are history: viewable, never edited.
        return obj is None or obj.version == OperatorPolicy.latest_version()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_publish(request) or super().has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # -- saving publishes ------------------------------------------------------------

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new version starts from the current one, not from the model defaults."""
        initial = super().get_changeform_initial_data(request)
        current = OperatorPolicy.current()
        for name in OperatorPolicy.RULE_FIELDS:
            initial.setdefault(name, getattr(current, name))
        return initial

    def save_model(
        self,
        request: HttpRequest,
        obj: OperatorPolicy,
        form: ModelForm[OperatorPolicy],
        change: bool,
    ) -> None:
        do_publish_operator_policy(obj, user=request.user)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: OperatorPolicy | None = None,
    ) -> Any:
        context.update(
            show_save_and_add_another=False,
            show_save_and_continue=True,
            show_delete_link=False,
        )
        if change and obj is not None:
            context["subtitle"] = f"Saving publishes version {OperatorPolicy.latest_version() + 1}"
        return super().render_change_form(request, context, add, change, form_url, obj)
