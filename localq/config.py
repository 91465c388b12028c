"""Settings: defaults, then LOCALQ_* environment variables, then explicit overrides.

This is the only module that reads os.environ.
"""
import dataclasses
import datetime
import difflib
import importlib
import inspect
import logging
import os
import re
import zoneinfo

from .errors import ConfigError

DEFAULT_DATA_DIR = 'data'

# (name, default, help). The README's settings table is checked against this list.
SETTINGS = (
    ('data_dir', DEFAULT_DATA_DIR, 'Folder for the SQLite file and uploads.'),
    ('database_url', '', 'Database URL; empty means sqlite:///<data_dir>/localq.db.'),
    ('host', '127.0.0.1', 'Address the web app binds to.'),
    ('port', 8000, 'Port the web app binds to.'),
    ('workers', 2, 'Worker threads (or processes) of the embedded or CLI worker.'),
    ('worker_type', 'thread', 'thread or process.'),
    ('queues', 'high,default,low', 'Queues a worker serves (priority= orders jobs, not the queue list).'),
    ('default_queue', 'default', 'Queue of a task declared without queue=.'),
    ('max_tasks_per_child', 0, 'A worker thread or process is replaced after this many jobs (0: never).'),
    ('worker_name', '', 'Name shown for this worker; empty means host:pid.'),
    ('wakeup', 'auto', 'How an idle SQLite worker learns of another process\'s commit: auto (inotify on Linux, else poll) or poll.'),
    ('poll_interval', 0.005, 'Seconds between checks for another process\'s commit when polling.'),
    ('heartbeat_interval', 2.0, 'Seconds between worker heartbeats.'),
    ('lease_timeout', 15.0, 'Seconds without a heartbeat after which a running job is lost.'),
    ('shutdown_timeout', 0.0, 'Seconds a warm stop (the first Ctrl-C or SIGTERM, the dashboard\'s Stop) waits for running jobs before a cold stop interrupts them; 0: until they finish, as Celery\'s warm shutdown (a second Ctrl-C stops at once).'),
    ('synchronous', 'NORMAL', 'SQLite synchronous pragma: NORMAL (fast, safe on a crash) or FULL.'),
    ('busy_timeout', 10.0, 'Seconds SQLite waits for a lock before giving up.'),
    ('keep_succeeded_days', 7.0, 'Finished jobs older than this are pruned.'),
    ('keep_failed_days', 30.0, 'Failed jobs older than this are pruned.'),
    ('keep_max_jobs', 1000000, 'At most this many finished jobs are kept.'),
    ('max_upload_mb', 50, 'Largest accepted upload, in MiB.'),
    ('max_message_mb', 16, 'Largest task message (its arguments, as JSON), in MiB.'),
    ('embedder', 'wordllama', 'Document search model: wordllama (a real model, shipped in its wheel) or hashing (a dependency-free fallback that matches shared words only).'),
    ('secret_key', '', 'Key for CSRF tokens; empty means a random key per start.'),
    ('auth_token', '', 'Token required when binding to anything but loopback.'),
    ('allowed_hosts', '', 'Host names the web app answers to besides loopback and its bound address (comma-separated; .example.com for subdomains).'),
    ('web_threads', 8, 'Threads of the web server.'),
    ('request_timeout', 30.0, 'Seconds the web server waits on a silent or stalled connection before closing it.'),
    ('lab_speed', 1.0, 'Classroom lab: rate limits and Retry-After waits run this many times faster.'),
    ('timezone', 'UTC', 'Time zone the periodic tasks\' crontabs are read in (an IANA name such as Europe/Paris).'),
)
WORKER_TYPES = ('thread', 'process')
WAKEUPS = ('auto', 'poll')
SYNCHRONOUS = ('NORMAL', 'FULL')


@dataclasses.dataclass
class Config:
    data_dir: str = DEFAULT_DATA_DIR
    database_url: str = ''
    host: str = '127.0.0.1'
    port: int = 8000
    workers: int = 2
    worker_type: str = 'thread'
    queues: str = 'high,default,low'
    default_queue: str = 'default'
    max_tasks_per_child: int = 0
    worker_name: str = ''
    wakeup: str = 'auto'
    poll_interval: float = 0.005
    heartbeat_interval: float = 2.0
    lease_timeout: float = 15.0
    shutdown_timeout: float = 0.0
    synchronous: str = 'NORMAL'
    busy_timeout: float = 10.0
    keep_succeeded_days: float = 7.0
    keep_failed_days: float = 30.0
    keep_max_jobs: int = 1000000
    max_upload_mb: int = 50
    max_message_mb: int = 16
    embedder: str = 'wordllama'
    secret_key: str = ''
    auth_token: str = ''
    allowed_hosts: str = ''
    web_threads: int = 8
    request_timeout: float = 30.0
    lab_speed: float = 1.0
    timezone: str = 'UTC'

    @property
    def queue_list(self):
        return [q.strip() for q in self.queues.split(',') if q.strip()]

    @property
    def resolved_database_url(self):
        if self.database_url:
            return self.database_url
        return 'sqlite:///' + os.path.abspath(os.path.join(self.data_dir, 'localq.db'))

    @property
    def upload_dir(self):
        return os.path.join(self.data_dir, 'uploads')

    def replace(self, **overrides):
        """A copy with some settings changed (None values are ignored), validated."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise unknown_setting(unknown[0])
        values = {k: _coerce(k, v) for k, v in overrides.items() if v is not None}
        return validate(dataclasses.replace(self, **values))


def _coerce(name, value):
    kind = type(getattr(Config, name))
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError('setting %s must be %s, got %r' % (name, kind.__name__, value))


def validate(config):
    """Raise ConfigError naming the allowed values when a setting cannot work."""
    if config.worker_type not in WORKER_TYPES:
        raise ConfigError('worker_type must be one of %s, got %r' % (WORKER_TYPES, config.worker_type))
    if config.wakeup not in WAKEUPS:
        raise ConfigError('wakeup must be one of %s, got %r' % (WAKEUPS, config.wakeup))
    config.synchronous = config.synchronous.upper()
    if config.synchronous not in SYNCHRONOUS:
        raise ConfigError('synchronous must be one of %s, got %r' % (SYNCHRONOUS, config.synchronous))
    if config.workers < 1:
        raise ConfigError('workers must be at least 1, got %r' % config.workers)
    if not 0 < config.port < 65536:
        raise ConfigError('port must be 1-65535, got %r' % config.port)
    if config.lab_speed <= 0:
        raise ConfigError('lab_speed must be above 0, got %r' % config.lab_speed)
    if not config.queue_list:
        raise ConfigError('queues must name at least one queue')
    if not re.match(r'^[\w.-]{1,100}$', config.default_queue):
        raise ConfigError('default_queue must be a queue name of letters, digits, "_", "-", ".", got %r'
                          % config.default_queue)
    if config.embedder not in ('wordllama', 'hashing'):
        raise ConfigError('embedder must be wordllama or hashing, got %r' % config.embedder)
    if config.web_threads < 1:
        raise ConfigError('web_threads must be at least 1, got %r' % config.web_threads)
    if config.request_timeout <= 0:
        raise ConfigError('request_timeout must be above 0 seconds, got %r' % config.request_timeout)
    if config.max_message_mb < 1:
        raise ConfigError('max_message_mb must be at least 1, got %r' % config.max_message_mb)
    if config.max_tasks_per_child < 0:
        raise ConfigError('max_tasks_per_child must be 0 (never) or more, got %r' % config.max_tasks_per_child)
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigError('timezone must be an IANA time zone name such as UTC or Europe/Paris, got %r'
                          % config.timezone) from None
    if config.lease_timeout <= config.heartbeat_interval:
        raise ConfigError('lease_timeout (%s) must exceed heartbeat_interval (%s)' % (
            config.lease_timeout, config.heartbeat_interval))
    return config


def from_env(environ=None, **overrides):
    """Defaults, then LOCALQ_<NAME> variables, then the given overrides."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, _default, _help in SETTINGS:
        key = 'LOCALQ_' + name.upper()
        if key in environ:
            values[name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config().replace(**values)


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


def setting_names():
    """Every name app.conf takes: localq's settings, then Celery's."""
    return ([s[0] for s in SETTINGS] + sorted(CELERY_NAMES) + sorted(TASK_DEFAULTS) + list(APP_SETTINGS)
            + sorted(CELERY_IGNORED))


def unknown_setting(key):
    """The ConfigError for a name app.conf does not take, with the closest names it does."""
    if key in CELERY_UNSUPPORTED:
        return ConfigError('%s is not supported by localq: %s' % (key, CELERY_UNSUPPORTED[key]))
    close = difflib.get_close_matches(str(key).lower(), setting_names(), n=3, cutoff=0.75)
    hint = ('; did you mean %s?' % ' or '.join(close)) if close else \
        '; localq has %s; Celery names it takes: %s' % (', '.join(s[0] for s in SETTINGS), ', '.join(
            sorted(CELERY_NAMES) + sorted(TASK_DEFAULTS) + list(APP_SETTINGS)))
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
        if name not in {f.name for f in dataclasses.fields(Config)}:
            raise unknown_setting(key)
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
        return [s[0] for s in SETTINGS] + sorted(self._ignored)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def update(self, values=(), **more):
        """Change settings by localq's or Celery's names; an unknown name changes nothing and
        raises ConfigError naming the closest known ones (Celery-only ones are accepted, with a warning)."""
        values = dict(values, **more)
        for key in values:   # all refused or none applied
            if not isinstance(key, str) or not (key in CELERY_IGNORED or key in TASK_DEFAULTS or key in APP_SETTINGS
                                                or CELERY_NAMES.get(key, key) in Config.__dataclass_fields__):
                raise unknown_setting(key)
        settings, app = {}, self._app
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
                if key.startswith('_') or (key not in setting_names() and (
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
