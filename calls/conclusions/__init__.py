"""Conclusion codes and what they mean to us: the six category flags (in one place), the
categories a code falls in, and Blu's reference dictionaries seeded into the Conclusion table.

Imports nothing of ours: the models and every room above build on it.
"""
