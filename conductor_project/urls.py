from django.contrib import admin
from django.urls import include, path

from orchestration.ui import views as ui

handler404 = "orchestration.api.errors.json_404"

urlpatterns = [
    path("", ui.home, name="home"),
    path("admin/", admin.site.urls),
    path("", include("orchestration.api.urls")),
]
