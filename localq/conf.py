"""app.conf: the settings as a mapping under localq's names or Celery's (Celery's setting names,
those that mean nothing here, those refused), and the "did you mean" for an unknown one.

The settings themselves (their declarations and values) are config.py's.
"""
import datetime
import difflib
import importlib
import inspect
import logging
import re

from .errors import ConfigError

# Celery's names for settings localq has under its own name: every way of setting them
# (app.conf.X = ..., app.conf.update(), config_from_object(), Celery(**settings)) takes either.
CELERY_NAMES = {
    'worker_concurrency': 'workers',
    'worker_pool': 'worker_type',
    'worker_max_tasks_per_child': 'max_tasks_per_child',
    'task_default_queue': 'default_queue',
    'result_expires': 'keep_succeeded_days',   # seconds or a timedelta: a finished job's row is its result
}
CELERY_POOLS = {'threads': 'thread', 'thread': 'thread', 'prefork': 'process', 'process': 'process'}
# Celery's app-wide defaults of task options: a task declared without the option takes them
# (LocalQ.set_task_default), whether declared before or after the setting.
TASK_DEFAULTS = {
    'task_acks_late': 'acks_late',
    'task_time_limit': 'time_limit',
    'task_soft_time_limit': 'soft_time_limit',
    'task_ignore_result': 'ignore_result',
    'task_default_rate_limit': 'rate_limit',
    'task_default_priority': 'priority',
}
# Celery settings the app holds itself rather than as a value of Config (Conf reads and sets them there).
APP_SETTINGS = ('beat_schedule', 'task_routes', 'task_always_eager', 'imports', 'include')
# Celery settings that mean nothing here, with why: accepted (so a Celery config loads), not applied.
CELERY_IGNORED = {
    'broker_url': 'the database is the broker (database_url)',
    'result_backend': 'results are in the job rows (database_url)',
    'task_serializer': 'messages are always JSON',
    'result_serializer': 'results are always JSON',
    'accept_content': 'messages are always JSON',
    'result_accept_content': 'results are always JSON',
    'enable_utc': 'times are stored as UTC seconds (crontabs are read in the timezone setting)',
    'task_track_started': 'STARTED is always recorded',
    'result_extended': 'a job\'s row always keeps its task name, arguments and worker',
    'task_queues': 'queues exist when used; a worker chooses them with -Q',
    'task_create_missing_queues': 'queues exist when used',
    'task_default_exchange': 'there are no exchanges: queues only',
    'task_default_exchange_type': 'there are no exchanges: queues only',
    'task_default_routing_key': 'there are no routing keys: queues only',
    'broker_connection_retry_on_startup': 'there is no broker connection',
    'broker_connection_retry': 'there is no broker connection (the database reconnects by itself)',
    'broker_connection_max_retries': 'there is no broker connection',
    'broker_transport_options': 'there is no broker transport',
    'broker_pool_limit': 'there is no broker connection pool',
    'worker_prefetch_multiplier': 'a worker claims one job at a time',
    'worker_send_task_events': 'every state change is in the job rows the dashboard reads',
    'task_send_sent_event': 'every state change is in the job rows the dashboard reads',
    'worker_hijack_root_logger': 'localq leaves your logging configuration alone',
    'task_eager_propagates': 'an eager task\'s error is raised by .get(), as always',
    'task_reject_on_worker_lost': 'an acks_late job whose worker is lost always runs again',
}
# Celery settings localq refuses, saying what to use instead.
CELERY_UNSUPPORTED = {
    'task_annotations': 'set the options on the task: @app.task(rate_limit=..., time_limit=...)',
    'worker_max_memory_per_child': 'use worker_max_tasks_per_child (max_tasks_per_child)',
    'beat_scheduler': 'every worker runs the periodic tasks of beat_schedule; there is no separate beat',
    'beat_schedule_filename': 'the schedule\'s ticks are recorded in the job table',
}
logger = logging.getLogger(__name__)


def setting_names(settings):
    """Every name app.conf takes: localq's settings (an app's: the core's and its plug-ins'), then Celery's."""
    return (list(settings) + sorted(CELERY_NAMES) + sorted(TASK_DEFAULTS)
            + list(APP_SETTINGS) + sorted(CELERY_IGNORED))


def unknown_setting(key, settings):
    """The ConfigError for a name app.conf does not take, with the closest names it does (among
    an app's settings, its plug-ins' included, and Celery's)."""
    if key in CELERY_UNSUPPORTED:
        return ConfigError('%s is not supported by localq: %s' % (key, CELERY_UNSUPPORTED[key]))
    close = difflib.get_close_matches(str(key).lower(), setting_names(settings), n=3, cutoff=0.75)
    hint = ('; did you mean %s?' % ' or '.join(close)) if close else \
        '; localq has %s; Celery names it takes: %s' % (', '.join(settings),
                                                         ', '.join(sorted(CELERY_NAMES) + sorted(TASK_DEFAULTS)
                                                                   + list(APP_SETTINGS)))
    return ConfigError('unknown setting %r%s' % (key, hint))


def _seconds_to_days(key, value):
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError('%s must be a positive number of seconds or a timedelta, got %r' % (key, value))
    return value / 86400.0


class Conf:
    """app.conf: the settings as a mapping users can read and update, under localq's names or
    Celery's, as attributes (app.conf.task_routes = ...) or items; unknown names are refused."""

    def __init__(self, app):
        object.__setattr__(self, '_app', app)
        object.__setattr__(self, '_ignored', {})

    def __getitem__(self, key):
        app = self._app
        if key in CELERY_IGNORED:
            if key not in self._ignored:
                raise KeyError(key)
            return self._ignored[key]
        if key in TASK_DEFAULTS:
            from .options import OPTIONS
            return app.task_defaults.get(TASK_DEFAULTS[key], OPTIONS[TASK_DEFAULTS[key]][0])
        if key == 'beat_schedule':
            return app.beat.schedule
        if key == 'task_routes':
            return app.router.routes
        if key == 'task_always_eager':
            return app.huey.immediate
        if key in ('imports', 'include'):
            return app.include
        if key == 'result_expires':
            return datetime.timedelta(days=app.config.keep_succeeded_days)
        name = CELERY_NAMES.get(key, key)
        if name not in app.config.settings:
            raise unknown_setting(key, app.config.settings)
        return getattr(app.config, name)

    def __getattr__(self, key):
        if key.startswith('_'):
            raise AttributeError(key)
        try:
            return self[key]
        except (KeyError, ConfigError) as exc:
            raise AttributeError(str(exc)) from None

    def __setattr__(self, key, value):
        """app.conf.task_routes = {...}: the same as app.conf.update(task_routes={...})."""
        self.update({key: value})

    def __setitem__(self, key, value):
        self.update({key: value})

    def __contains__(self, key):
        try:
            self[key]
        except (KeyError, ConfigError):
            return False
        return True

    def get(self, key, default=None):
        return self[key] if key in self else default

    def keys(self):
        return list(self._app.config.settings) + sorted(self._ignored)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def update(self, values=(), **more):
        """Change settings by localq's or Celery's names; an unknown name changes nothing and
        raises ConfigError naming the closest known ones (Celery-only ones are accepted, with a warning)."""
        values, app = dict(values, **more), self._app
        for key in values:   # all refused or none applied
            if not isinstance(key, str) or not (key in CELERY_IGNORED or key in TASK_DEFAULTS or key in APP_SETTINGS
                                                or CELERY_NAMES.get(key, key) in app.config.settings):
                raise unknown_setting(key, app.config.settings)
        settings = {}
        for key, value in values.items():
            if key in CELERY_IGNORED:
                logger.warning('app.conf: %s has no effect in localq: %s', key, CELERY_IGNORED[key])
                self._ignored[key] = value
            elif key in TASK_DEFAULTS:
                app.set_task_default(TASK_DEFAULTS[key], value, setting=key)
            elif key == 'beat_schedule':
                app.beat.configure(value)
            elif key == 'task_routes':
                app.router.configure(value)
            elif key == 'task_always_eager':
                app.immediate = bool(value)
            elif key in ('imports', 'include'):
                app.include = [value] if isinstance(value, str) else list(value)
            elif key == 'worker_pool':
                if value not in CELERY_POOLS:
                    raise ConfigError('worker_pool must be one of %s, got %r' % (', '.join(CELERY_POOLS), value))
                settings['worker_type'] = CELERY_POOLS[value]
            elif key == 'result_expires':
                settings['keep_succeeded_days'] = _seconds_to_days(key, value)
            else:
                settings[CELERY_NAMES.get(key, key)] = value
        if settings:
            app.configure(**settings)

    def config_from_object(self, obj, namespace=None):
        """Read settings from a module (or its dotted name, 'module:attribute'), a class or a dict.

        A dict's keys are all settings. Of a module or class: its lowercase attributes that are
        not modules, functions or classes (so a config module's imports and helpers are left
        alone); UPPERCASE ones are constants, except Celery's old setting names, refused with
        their new name. namespace='CELERY' (Django's settings) reads CELERY_<NAME> as <name>."""
        if isinstance(obj, str):
            module, _, attribute = obj.partition(':')
            obj = importlib.import_module(module)
            if attribute:
                obj = getattr(obj, attribute)
        items = list(obj.items()) if isinstance(obj, dict) else [(k, getattr(obj, k)) for k in dir(obj)]
        values = {}
        for key, value in items:
            if namespace:
                if not key.startswith(namespace + '_'):
                    continue
                key = key[len(namespace) + 1:].lower()
            elif not isinstance(obj, dict):
                if key.startswith('_') or (key not in setting_names(self._app.config.settings) and (
                        inspect.ismodule(value) or inspect.isroutine(value) or inspect.isclass(value))):
                    continue
                if key.isupper():
                    if re.match(r'^(CELERY|CELERYD|CELERYBEAT|BROKER)_', key):
                        raise ConfigError('%s is an old uppercase Celery setting: use its lowercase name (see '
                                          "Celery's \"New lowercase settings\"), or config_from_object(..., "
                                          "namespace='CELERY') for CELERY_<NAME> settings" % key)
                    continue
            values[key] = value
        self.update(values)
