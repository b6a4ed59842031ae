"""Routes of one area of Conductor's API, included by orchestration.api.urls before the core
routes (so literal segments here win over the core's variables).

The token endpoint (Orkes' ``/api/token``); what may call it, and everything else, is decided by
``orchestration.security.middleware``, not here."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from orchestration.api import views_auth
from orchestration.api.routing import route

urlpatterns: list[URLPattern | URLResolver] = [
    route("api/token/userInfo", views_auth.UserInfoView.as_view(), "token-userinfo"),
    route("api/token", views_auth.TokenView.as_view(), "token"),
]
