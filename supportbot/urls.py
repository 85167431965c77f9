from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/reports/", include("apps.reports.urls")),
    path("admin/console/", include("apps.escalations.urls")),
    path("admin/", admin.site.urls),
    path("help/", include("apps.knowledge.urls")),
    path("", include("apps.chat.urls")),
]
