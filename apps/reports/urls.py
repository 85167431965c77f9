from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
]
