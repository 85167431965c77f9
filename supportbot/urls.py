from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "supportbot"
admin.site.site_title = "supportbot admin"
admin.site.index_title = "Support console"
admin.site.index_template = "admin/supportbot_index.html"  # links to the console and dashboard

urlpatterns = [
    path("admin/reports/", include("apps.reports.urls")),
    path("admin/console/", include("apps.escalations.urls")),
    path("admin/", admin.site.urls),
    path("help/", include("apps.knowledge.urls")),
    path("", include("apps.chat.urls")),
]
