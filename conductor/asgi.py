"""ASGI entry point: HTTP (pages, API) and, as live updates arrive, WebSockets."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor.settings")
django_asgi = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi})
