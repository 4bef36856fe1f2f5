"""Is the robot right? A daily sample of calls per conclusion code (sample.py), a person's
verdict on each (marks.py), and the robot's accuracy per code and per bot (accuracy.py)."""
