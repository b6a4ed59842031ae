"""Admin for application keys: create (the secret is shown once), list, revoke, rotate.

Only superusers see this page, whatever their model permissions: whoever can mint a key can
mint an ADMIN key, so key management is itself an ADMIN power (and a staff user granted
``add_applicationkey`` by mistake must not become one).

The secret is generated here, shown in a one-time message, and stored only as a hash; the
form never has a secret field. Revoking is clearing ``active`` (the key stays for the record);
deleting works too. Either takes effect immediately in this process and within
``BATON["AUTH_KEY_CACHE_SECONDS"]`` everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from orchestration.admin_common import ms_column
from orchestration.models import ApplicationKey
from orchestration.security import keys


def _show_secret(request: HttpRequest, key: ApplicationKey, secret: str, what: str) -> None:
    messages.warning(
        request,
        f"{what} '{key.name}'. keyId: {key.key_id}  keySecret: {secret}  "
        "Copy the secret now: it is stored only as a hash and will not be shown again.",
    )


@admin.register(ApplicationKey)
class ApplicationKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "key_id", "role", "active", "created", "last_token")
    list_filter = ("role", "active")
    search_fields = ("name", "key_id")
    ordering = ("name",)
    actions = ("revoke", "reactivate", "rotate_secret")
    created = staticmethod(ms_column("create_time", "created (UTC)"))
    last_token = staticmethod(ms_column("last_used_time", "last token issued (UTC)"))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def get_fields(self, request: HttpRequest, obj: ApplicationKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "role"]
        return ["name", "key_id", "role", "active", "created", "last_token"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApplicationKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["key_id", "created", "last_token"]

    def save_model(self, request: HttpRequest, obj: ApplicationKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The key id and secret are made here, never typed in: the form has no field for them.
        secret = keys.generate_secret()
        obj.key_id = keys.generate_key_id()
        obj.secret_hash = keys.hash_secret(secret)
        obj.create_time = keys.now_ms()
        obj.active = True
        super().save_model(request, obj, form, change)
        _show_secret(request, obj, secret, "Created application key")

    @admin.action(description="Revoke selected keys (their tokens stop working)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApplicationKey]) -> None:
        changed = queryset.filter(active=True).update(active=False)
        # update() sends no signals: forget the cached state by hand.
        keys.invalidate()
        self.message_user(request, f"Revoked {changed} key(s).")

    @admin.action(description="Reactivate selected keys")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[ApplicationKey]) -> None:
        changed = queryset.filter(active=False).update(active=True)
        keys.invalidate()
        self.message_user(request, f"Reactivated {changed} key(s).")

    @admin.action(description="Rotate the secret of selected keys (shown once)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[ApplicationKey]) -> None:
        for key in queryset:
            secret = keys.rotate_secret(key)
            _show_secret(request, key, secret, "New secret for application key")
