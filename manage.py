#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bludash.settings")
    from bludash.startup import read_settings_or_exit

    read_settings_or_exit()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
