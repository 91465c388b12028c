"""The options @app.task(...) accepts, their defaults, and their checks (at decoration time)."""
import dataclasses
import re

from .errors import InvalidTaskOptions

_RATE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$')
_PER = {'s': 1.0, 'm': 60.0, 'h': 3600.0}


def _positive_number_or_none(v):
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)


def _exception_tuple(v):
    return isinstance(v, tuple) and all(isinstance(e, type) and issubclass(e, BaseException) for e in v)


# name -> (default, check, what the check allows). Celery's names and defaults.
OPTIONS = {
    'name': (None, lambda v: v is None or (isinstance(v, str) and v), 'a non-empty str'),
    'bind': (False, lambda v: isinstance(v, bool), 'True or False'),
    'max_retries': (3, lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
                    'an int >= 0 (None: no limit is not supported, use a number)'),
    'autoretry_for': ((), _exception_tuple, 'a tuple of exception classes'),
    'retry_backoff': (False, lambda v: isinstance(v, bool) or (isinstance(v, (int, float)) and v > 0),
                      'True/False or a positive number of seconds (the first delay)'),
    'retry_backoff_max': (600, _positive_number_or_none, 'a positive number of seconds'),
    'retry_jitter': (True, lambda v: isinstance(v, bool), 'True or False'),
    'default_retry_delay': (180, lambda v: isinstance(v, (int, float)) and v >= 0, 'seconds >= 0'),
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

    @property
    def rate_interval(self):
        """Seconds between two starts allowed by rate_limit, or None."""
        if not self.rate_limit:
            return None
        count, unit = _RATE.match(self.rate_limit).groups()
        return _PER[unit] / float(count)


def resolve_options(func, given):
    """Check the decorator's keyword arguments and fill in defaults."""
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
    if values['name'] is None:
        values['name'] = '%s.%s' % (func.__module__, func.__qualname__)
    return TaskOptions(**values)
