"""Django's format module for bludash (settings.FORMAT_MODULE_PATH): the admin, and any date a
template shows without a format of its own, read times as the pages do (formatting.py)."""
