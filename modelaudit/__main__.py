"""`python -m modelaudit`."""

from .cli import run

run()
