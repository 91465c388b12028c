"""`python -m localq ...`: the `localq` command (how --reload starts its child, reload.py)."""
import sys

from .cli import main

sys.exit(main())
