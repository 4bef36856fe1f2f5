import os

from django.core.wsgi import get_wsgi_application

from bludash.startup import read_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bludash.settings")

# 4 is gunicorn's "App failed to load": it stops, instead of booting worker after worker that
# fails on the same value.
read_settings_or_exit(status=4)

application = get_wsgi_application()
