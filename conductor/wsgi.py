import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor.settings")
application = get_wsgi_application()

# Everything loaded so far lives as long as the process: keep the cyclic garbage
# collector from walking it on every collection (a bulk submit makes many objects).
gc.freeze()
