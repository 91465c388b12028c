"""The options @app.task(...) accepts (checked at decoration time), and those of one call (checked
where it enters the core: LocalQ.enqueue_call)."""
import dataclasses
import datetime
import math
import re
import time

from .errors import InvalidCallOptions, InvalidTaskOptions

_RATE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$')
_PER = {'s': 1.0, 'm': 60.0, 'h': 3600.0}


def _number(v):
    """A finite int or float: True is not 1 second here, nor is nan or inf a number of seconds."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive_number_or_none(v):
    return v is None or (_number(v) and v > 0)


def _exception_tuple(v):
    return isinstance(v, tuple) and all(isinstance(e, type) and issubclass(e, BaseException) for e in v)


# name -> (default, check, what the check allows). Celery's names and defaults.
OPTIONS = {
    'name': (None, lambda v: v is None or (isinstance(v, str) and v), 'a non-empty str'),
    'bind': (False, lambda v: isinstance(v, bool), 'True or False'),
    'max_retries': (3, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                    'an int >= 0 (None: no limit is not supported, use a number)'),
    'autoretry_for': ((), _exception_tuple, 'a tuple of exception classes'),
    'retry_backoff': (False, lambda v: isinstance(v, bool) or (_number(v) and v > 0),
                      'True/False or a positive number of seconds (the first delay)'),
    'retry_backoff_max': (600, _positive_number_or_none, 'a positive number of seconds'),
    'retry_jitter': (True, lambda v: isinstance(v, bool), 'True or False'),
    'default_retry_delay': (180, lambda v: _number(v) and v >= 0, 'seconds >= 0'),
    'time_limit': (None, _positive_number_or_none, 'a positive number of seconds or None'),
    'soft_time_limit': (None, _positive_number_or_none, 'a positive number of seconds or None'),
    'acks_late': (False, lambda v: isinstance(v, bool), 'True or False'),
    'ignore_result': (False, lambda v: isinstance(v, bool), 'True or False'),
    'rate_limit': (None, lambda v: v is None or (isinstance(v, str) and bool(_RATE.match(v))),
                   'None or "N/s", "N/m", "N/h", e.g. "10/m"'),
    'queue': (None, lambda v: v is None or (isinstance(v, str) and bool(re.match(r'^[\w.-]{1,100}$', v))),
              'a queue name of letters, digits, "_", "-", "." (None: the app\'s default_queue)'),
    'priority': (0, lambda v: isinstance(v, int) and not isinstance(v, bool) and -1000 <= v <= 1000,
                 'an int from -1000 to 1000 (higher runs first)'),
    'expires': (None, _positive_number_or_none, 'seconds after enqueue, or None'),
    'concurrency_key': (None, lambda v: v is None or callable(v) or (isinstance(v, str) and v.isidentifier()),
                        'None, the name of an argument, or a function of the call\'s arguments returning a str'),
    'concurrency_limit': (None, lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
                          'None or an int >= 1 (needs concurrency_key)'),
}


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    name: str
    bind: bool
    max_retries: int
    autoretry_for: tuple
    retry_backoff: object
    retry_backoff_max: float
    retry_jitter: bool
    default_retry_delay: float
    time_limit: float
    soft_time_limit: float
    acks_late: bool
    ignore_result: bool
    rate_limit: str
    queue: str
    priority: int
    expires: float
    concurrency_key: object
    concurrency_limit: int

    @property
    def rate_interval(self):
        """Seconds between two starts allowed by rate_limit, or None."""
        if not self.rate_limit:
            return None
        count, unit = _RATE.match(self.rate_limit).groups()
        return _PER[unit] / float(count)


def resolve_options(func, given):
    """Check the decorator's keyword arguments and fill in defaults."""
    if 'retry_kwargs' in given:
        # Celery's retry_kwargs={'max_retries': 5, 'countdown': 2}: the autoretry's limit and delay.
        given = dict(given)
        extra = given.pop('retry_kwargs') or {}
        if not isinstance(extra, dict) or set(extra) - {'max_retries', 'countdown'}:
            raise InvalidTaskOptions('@task(retry_kwargs=%r) for %s: takes max_retries and countdown' % (
                extra, func.__qualname__))
        if 'max_retries' in extra:
            given.setdefault('max_retries', extra['max_retries'])
        if 'countdown' in extra:
            given.setdefault('default_retry_delay', extra['countdown'])
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise InvalidTaskOptions('@task(%s): unknown option(s) %s for %s; allowed: %s' % (
            ', '.join(unknown), ', '.join(unknown), func.__qualname__, ', '.join(sorted(OPTIONS))))
    values = {}
    for key, (default, check, allowed) in OPTIONS.items():
        value = given.get(key, default)
        if key == 'autoretry_for' and isinstance(value, type):
            value = (value,)
        if key == 'autoretry_for' and isinstance(value, list):
            value = tuple(value)
        if not check(value):
            raise InvalidTaskOptions('@task(%s=%r) for %s: must be %s' % (
                key, value, func.__qualname__, allowed))
        values[key] = value
    if values['soft_time_limit'] and values['time_limit'] and values['soft_time_limit'] >= values['time_limit']:
        raise InvalidTaskOptions('@task for %s: soft_time_limit (%s) must be below time_limit (%s)' % (
            func.__qualname__, values['soft_time_limit'], values['time_limit']))
    if (values['concurrency_key'] is None) != (values['concurrency_limit'] is None):
        raise InvalidTaskOptions('@task for %s: concurrency_key and concurrency_limit go together' % func.__qualname__)
    if values['name'] is None:
        values['name'] = '%s.%s' % (func.__module__, func.__qualname__)
    return TaskOptions(**values)


# -- per call: apply_async(), send_task(), a signature's options ------------------------------
CALL_OPTIONS = ('countdown', 'eta', 'expires', 'queue', 'priority', 'task_id', 'idempotency_key')
MAX_DELAY = 366 * 86400.0            # countdown, eta and expires: at most a year ahead
_QUEUE = re.compile(r'^[\w.-]{1,100}$')
_TASK_ID = re.compile(r'^[\w.:-]{1,64}$')


def _seconds(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidCallOptions('%s must be a number of seconds, got %s' % (name, _short(value)))
    if not low <= value <= MAX_DELAY:
        raise InvalidCallOptions('%s must be from %g to %d seconds (a year), got %r' % (name, low, MAX_DELAY, value))
    return float(value)


def _when(name, value):
    """A datetime (naive: local time, as in Celery) within a year from now."""
    if not isinstance(value, datetime.datetime):
        raise InvalidCallOptions('%s must be a datetime, got %s' % (name, _short(value)))
    if abs(value.timestamp() - time.time()) > MAX_DELAY:
        raise InvalidCallOptions('%s must be within a year of now, got %s' % (name, value.isoformat()))
    return value


def _short(value, limit=60):
    """The value as a repr, cut to `limit` characters (shown as it is: '%s', not '%r')."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


# Celery call options about publishing to a broker: a call here is one database write (a lost
# connection reconnects by itself), so they are accepted and have nothing to do.
PUBLISH_OPTIONS = ('retry', 'retry_policy')
# Celery call options localq refuses, saying what to do instead.
REFUSED_CALL_OPTIONS = {
    'ignore_result': 'declare it on the task: @app.task(ignore_result=True)',
    'headers': 'pass what the task needs as an argument',
    'serializer': 'messages are always JSON',
    'routing_key': 'use queue=', 'exchange': 'use queue=',
}


def check_call_options(options):
    """The options of one call, checked where they enter (Python, CLI and HTTP callers alike);
    raises InvalidCallOptions naming what is allowed."""
    options = {k: v for k, v in options.items() if k not in PUBLISH_OPTIONS}
    refused = sorted(set(options) & set(REFUSED_CALL_OPTIONS))
    if refused:
        raise InvalidCallOptions('option %s is not supported by localq: %s' % (
            refused[0], REFUSED_CALL_OPTIONS[refused[0]]))
    unknown = sorted(set(options) - set(CALL_OPTIONS))
    if unknown:
        raise InvalidCallOptions('unknown option(s) %s; allowed: %s' % (', '.join(map(str, unknown)),
                                                                         ', '.join(CALL_OPTIONS)))
    checked = dict.fromkeys(CALL_OPTIONS)
    for name, value in options.items():
        if value is None:
            continue
        if name == 'countdown':
            value = _seconds(name, value, -MAX_DELAY)
        elif name == 'expires':
            value = _when(name, value) if isinstance(value, datetime.datetime) else _seconds(name, value, 0.001)
        elif name == 'eta':
            value = _when(name, value)
        elif name == 'queue':
            if not isinstance(value, str) or not _QUEUE.match(value):
                raise InvalidCallOptions('queue must be 1-100 letters, digits, "_", "-", ".", got %s' % _short(value))
        elif name == 'priority':
            if isinstance(value, bool) or not isinstance(value, int) or not -1000 <= value <= 1000:
                raise InvalidCallOptions('priority must be a whole number from -1000 to 1000, got %s' % _short(value))
        elif name == 'task_id':
            if not isinstance(value, str) or not _TASK_ID.match(value):
                raise InvalidCallOptions('task_id must be 1-64 letters, digits, "_", "-", ".", ":", got %s'
                                         % _short(value))
        elif name == 'idempotency_key':
            if not isinstance(value, str) or not 1 <= len(value) <= 200 or '\x00' in value:
                raise InvalidCallOptions('idempotency_key must be a string of 1-200 characters, got %s'
                                         % _short(value))
        checked[name] = value
    return checked


def concurrency_key(options, params, args, kwargs):
    """The key a call of this task holds while it runs, or None; a clear error if it cannot be made."""
    key = options.concurrency_key
    if key is None:
        return None
    try:
        if callable(key):
            value = key(*args, **kwargs)
        else:
            value = kwargs[key] if key in kwargs else args[params.index(key)]   # params: the call's names
    except Exception as exc:   # the user's function, or an argument the call lacks
        raise InvalidCallOptions('concurrency_key of %s: could not be computed from the call (%s: %s)' % (
            options.name, type(exc).__name__, exc))
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise InvalidCallOptions('concurrency_key of %s: must give a str of 1 to 200 characters, got %s' % (
            options.name, _short(value)))
    return value
