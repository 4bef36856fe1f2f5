"""django-filter FilterSets for the tables: what a user can narrow a table by, read from the URL."""

from __future__ import annotations

import django_filters  # noqa: F401

# === Calls (owned by the calls work) ===

# === end calls ===

# === Tasks (owned by the overview/tasks work) ===

# === end tasks ===
