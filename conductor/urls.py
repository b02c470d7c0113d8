from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from conductor import health
from conductor.api import docs_assets

handler400 = "conductor.api.errors.handler400"
handler404 = "conductor.api.errors.handler404"
handler500 = "conductor.api.errors.handler500"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:overview"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v2/redoc/redoc.standalone.js", docs_assets.redoc_script, name="redoc-js"),
    path("api/v2/", include("conductor.api.urls")),
    path("dashboard/", include("dashboard.urls")),
]
