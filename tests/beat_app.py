"""An app with only a beat_schedule, for `localq beat` (tests/integration/test_cli_celery_flags.py)."""
from localq import LocalQ

app = LocalQ('beat-app')
app.conf.beat_schedule = {'cli-beat-add': {'task': 'tests.add', 'schedule': 1.0, 'args': (2, 3)}}
