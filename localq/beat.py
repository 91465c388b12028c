"""Periodic tasks: Celery's beat_schedule, add_periodic_task and @app.periodic_task, run by the
scheduler thread that every worker already has (Huey's), not by a separate `celery beat`.

Why not Huey's own periodic tasks: Huey checks them once a minute, so a schedule of 10 seconds
(Celery's `'schedule': 10.0`) cannot run on it, and it knows only functions of a datetime.
Here every worker's scheduler calls `Beat.tick()` about once a second; each entry is due at
the start of a new minute its crontab matches, or at each multiple of its interval since the
UNIX epoch (so every worker agrees on the ticks). A due entry is queued with the idempotency
key `periodic:<name>:<minute>` (crontab) or `periodic:<name>:every-<seconds>s:<n>` (interval):
however many workers tick, the job table's unique index lets one job through per tick.
"""
import datetime
import logging
import re
import time
import zoneinfo

from huey.api import crontab as huey_crontab
from huey.consumer import Scheduler

from .errors import ConfigError

logger = logging.getLogger(__name__)

MIN_INTERVAL = 1.0   # seconds: the scheduler ticks about once a second
_DAY_NAMES = {'sun': 0, 'mon': 1, 'tue': 2, 'wed': 3, 'thu': 4, 'fri': 5, 'sat': 6}
ENTRY_FIELDS = ('task', 'schedule', 'args', 'kwargs', 'options', 'relative')


class crontab:
    """A crontab schedule with Celery's names (minute, hour, day_of_week, day_of_month,
    month_of_year; day names such as 'mon-fri') or Huey's (day, month): true for the minutes
    it matches. Day of week 0 is Sunday, as in Celery and cron. Evaluated in the app's
    `timezone` setting (UTC by default)."""

    def __init__(self, minute='*', hour='*', day_of_week='*', day_of_month='*', month_of_year='*',
                 day=None, month=None):
        day = day_of_month if day is None else day
        month = month_of_year if month is None else month
        self.fields = dict(minute=minute, hour=hour, day_of_week=day_of_week, day_of_month=day, month_of_year=month)
        dow = str(day_of_week).lower()
        for name, number in _DAY_NAMES.items():
            dow = re.sub(r'\b%s[a-z]*' % name, str(number), dow)
        try:
            # strict: Huey would otherwise skip a piece it cannot read and run at other times.
            self._matches = huey_crontab(minute=str(minute), hour=str(hour), day=str(day), month=str(month),
                                         day_of_week=dow, strict=True)
        except ValueError as exc:
            raise ConfigError('crontab(%s): %s' % (self._describe(), exc)) from None

    def __call__(self, dt):
        return self._matches(dt)

    def _describe(self):
        return ', '.join('%s=%r' % kv for kv in self.fields.items() if kv[1] != '*')

    def __repr__(self):
        return '<crontab: %s>' % (self._describe() or 'every minute')


crontab.hourly = lambda: crontab(minute=0)
crontab.daily = lambda: crontab(minute=0, hour=0)


class Entry:
    """One periodic task: what to queue (task name, arguments, call options) and when."""

    def __init__(self, name, task, schedule, args=(), kwargs=None, options=None):
        self.name, self.task = name, task
        self.args, self.kwargs, self.options = tuple(args or ()), dict(kwargs or {}), dict(options or {})
        self.every = None       # seconds, for an interval schedule
        self.matches = None     # dt -> bool, for a crontab (or any function of a datetime)
        if isinstance(schedule, datetime.timedelta):
            schedule = schedule.total_seconds()
        if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
            if schedule < MIN_INTERVAL:
                raise ConfigError('periodic task %r: schedule must be at least %g second (the scheduler ticks once '
                                  'a second), got %r' % (name, MIN_INTERVAL, schedule))
            self.every = float(schedule)
        elif callable(schedule):
            self.matches = schedule
        else:
            raise ConfigError('periodic task %r: schedule must be a number of seconds, a timedelta or crontab(...), '
                              'got %r' % (name, schedule))
        self.schedule = schedule

    def due(self, now, last, tz):
        """(slot, idempotency key) of this entry at `now`: the key if it is due in a slot after
        `last` (its slot at the previous tick, None at the first), else None."""
        if self.every is not None:
            slot = int(now // self.every)
            # An interval runs at the slots a scheduler sees begin, not at the one it starts in.
            if last is None or slot == last:
                return slot, None
            return slot, 'periodic:%s:every-%gs:%d' % (self.name, self.every, slot)
        minute = int(now // 60)
        if minute == last or not self.matches(datetime.datetime.fromtimestamp(minute * 60, tz).replace(tzinfo=None)):
            return minute, None
        return minute, 'periodic:%s:%d' % (self.name, minute)

    def __repr__(self):
        return '<periodic %s: %s every %s>' % (self.name, self.task, self.every or self.matches)


class Signal:
    """Celery's app.on_after_configure / on_after_finalize: receivers run once, with sender=app,
    before the schedule is first read (when a worker starts)."""

    def __init__(self):
        self.receivers = []

    def connect(self, receiver=None, **_options):
        if receiver is None:   # @signal.connect(weak=False)
            return lambda fn: self.connect(fn)
        self.receivers.append(receiver)
        return receiver

    def send(self, sender):
        for receiver in list(self.receivers):
            receiver(sender=sender)


class Beat:
    """An app's periodic tasks: declared with @app.periodic_task, or Celery's beat_schedule."""

    def __init__(self, app):
        self.app = app
        self.schedule = {}     # Celery's beat_schedule: name -> entry dict (app.conf.beat_schedule)
        self.declared = {}     # @app.periodic_task: name -> Entry
        self.on_after_configure = Signal()
        self.on_after_finalize = Signal()
        self._finalized = False
        self._entries = None   # compiled, for the tickers

    # -- declaring ------------------------------------------------------------
    def configure(self, schedule):
        """Set app.conf.beat_schedule: {'name': {'task': 'x.y', 'schedule': ..., 'args': ..., ...}}."""
        if not isinstance(schedule, dict):
            raise ConfigError('beat_schedule must be a dict of name -> entry, got %r' % (schedule,))
        for name, entry in schedule.items():
            self._compile(name, entry)   # refuse a bad entry now, where it is set
        self.schedule = schedule
        self._entries = None

    def declare(self, name, schedule):
        """@app.periodic_task(run_every): the task itself, on its schedule."""
        self.declared[name] = Entry(name, name, schedule)
        self._entries = None

    def forget(self, name):
        """Stop scheduling the periodic task `name` (declared or of beat_schedule)."""
        self.declared.pop(name, None)
        self.schedule.pop(name, None)
        self._entries = None

    def add(self, schedule, sig, args=(), kwargs=None, name=None, **options):
        """Celery's app.add_periodic_task(schedule, sig, name=...): an entry of beat_schedule."""
        from .canvas import signature
        sig = signature(sig, app=self.app)
        if args or kwargs:
            sig = sig.clone(args, kwargs)
        name = name or repr(sig)
        entry = {'task': sig.name, 'schedule': schedule, 'args': sig.args, 'kwargs': sig.kwargs,
                 'options': dict(sig.options, **options)}
        self._compile(name, entry)
        self.schedule[name] = entry
        self._entries = None
        return name

    def _compile(self, name, entry):
        from .options import check_call_options
        if not isinstance(name, str) or not 1 <= len(name) <= 120:
            raise ConfigError('a periodic task name is a string of 1-120 characters, got %r' % (name,))
        if not isinstance(entry, dict) or 'task' not in entry or 'schedule' not in entry:
            raise ConfigError("beat_schedule[%r] must be a dict with 'task' and 'schedule', got %r" % (name, entry))
        unknown = sorted(set(entry) - set(ENTRY_FIELDS))
        if unknown:
            raise ConfigError('beat_schedule[%r]: unknown field(s) %s; allowed: %s' % (
                name, ', '.join(unknown), ', '.join(ENTRY_FIELDS)))
        options = dict(entry.get('options') or {})
        try:
            check_call_options(options)
        except Exception as exc:
            raise ConfigError('beat_schedule[%r] options: %s' % (name, exc)) from None
        return Entry(name, entry['task'], entry['schedule'], entry.get('args'), entry.get('kwargs'), options)

    def entries(self):
        """Every periodic task of the app (declared ones, then beat_schedule's), compiled."""
        if not self._finalized:
            # Celery's idiom: @app.on_after_configure.connect def setup(sender, **kw): sender.add_periodic_task(...)
            self._finalized = True
            self.on_after_configure.send(self.app)
            self.on_after_finalize.send(self.app)
        if self._entries is None:
            compiled = dict(self.declared)
            compiled.update((name, self._compile(name, entry)) for name, entry in self.schedule.items())
            self._entries = list(compiled.values())
        return self._entries

    def ticker(self):
        """A scheduler's ticker of these entries (each worker's scheduler has its own)."""
        return Ticker(self)


class Ticker:
    """What one scheduler remembers between ticks: each entry's slot at its last tick."""

    def __init__(self, beat):
        self.beat, self.app = beat, beat.app
        self._last = {}        # entry name -> the slot (interval) or minute (crontab) of its last tick
        self._failing = set()

    def tick(self, now=None):
        """Queue each entry due since this scheduler's previous tick; returns the AsyncResults
        queued (a tick another scheduler queued first comes back as that job)."""
        now = time.time() if now is None else now
        tz = zoneinfo.ZoneInfo(self.app.config.timezone)
        queued = []
        for entry in self.beat.entries():
            self._last[entry.name], key = entry.due(now, self._last.get(entry.name), tz)
            if key is not None:
                queued.extend(self._queue(entry, key))
        return queued

    def _queue(self, entry, key):
        try:
            result = self.app.enqueue_call(entry.task, entry.args, entry.kwargs,
                                           dict(entry.options, idempotency_key=key))
        except Exception as exc:
            # One entry that cannot be queued (a database outage, bad arguments) never stops the others;
            # said once until it works again.
            if entry.name not in self._failing:
                self._failing.add(entry.name)
                logger.error('periodic task %s (%s) could not be queued: %s', entry.name, entry.task, exc)
            return []
        if entry.name in self._failing:
            self._failing.discard(entry.name)
            logger.warning('periodic task %s is queued again', entry.name)
        logger.info('%s: periodic task %s queued (%s)', result.id, entry.name, entry.task)
        return [result]


class LocalqScheduler(Scheduler):
    """Huey's scheduler thread, which also ticks the app's periodic tasks (beat.py) about once a
    second, and closes its database connection when it ends (Huey runs its shutdown hooks in
    worker threads only)."""
    beat = None   # its Ticker of the app's periodic tasks (LocalqConsumer._create_scheduler)

    def loop(self, now=None):
        try:
            self.beat.tick()
        except Exception:   # a broken schedule never stops the scheduler (each entry's errors are its own)
            self._logger.exception('periodic tasks: tick failed')
        super().loop(now)

    def shutdown(self):
        self.huey.storage.close()
