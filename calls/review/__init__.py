"""Is the robot right? A daily sample of calls per conclusion code (sample.py), a person's
verdict on each (marks.py), and the robot's accuracy per code and per bot (accuracy.py).

May import `calls.models`, `calls.conclusions`, `calls.security` and `calls.audit`: the pages
(`calls.dashboard`), the daily job (`calls.tasks`) and `manage.py blu review` call in here.
"""
