from django.contrib import admin
from django.urls import include, path

from orchestration.ui import views as ui

urlpatterns = [
    path("", ui.home, name="home"),
    path("admin/", admin.site.urls),
    path("", include("orchestration.api.urls")),
]
