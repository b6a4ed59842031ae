"""``/api/schema`` (the OpenAPI 3 document, JSON; ``?format=yaml`` for YAML) and ``/api/docs``
(Swagger UI on it). The schema is generated from the URL conf and the registry in
``orchestration.api.openapi``.

The page's JavaScript and CSS come from the ``drf-spectacular-sidecar`` package and are served
by this module under ``/api/docs/assets/``, so the page works offline and under any server (uvicorn
serves no static files); a deployment that collects static files may serve them itself.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import drf_spectacular_sidecar
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path, reverse
from django.views.decorators.http import require_GET
from django.views.static import serve
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestration.api.routing import route

ASSETS_ROOT = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar"


class SchemaView(SpectacularAPIView):
    # JSON unless YAML is asked for (Accept: application/vnd.oai.openapi or ?format=yaml).
    renderer_classes = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]


class DocsView(SpectacularSwaggerView):
    url_name = "openapi-schema"
    title = "Baton API"

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return reverse("openapi-assets", kwargs={"path": f"swagger-ui-dist/{filename}"})

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return reverse("openapi-assets", kwargs={"path": "swagger-ui-dist/favicon-32x32.png"})


@require_GET
def assets(request: HttpRequest, path: str) -> HttpResponse:
    if ".." in PurePosixPath(path).parts:
        raise Http404("No such asset")
    response = serve(request, path, document_root=str(ASSETS_ROOT))
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns: list[URLPattern] = [
    route("api/schema", SchemaView.as_view(), "openapi-schema"),
    route("api/docs", DocsView.as_view(), "openapi-docs"),
    re_path(r"^api/docs/assets/(?P<path>.+)$", assets, name="openapi-assets"),
]
