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


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting, declared once: its name (LOCALQ_<NAME> in the environment, a keyword of
    LocalQ(...) and app.configure()), its default, whose type is the setting's type (text from the
    environment is converted to it), what it means (the README's settings table is made from it),
    and the values it may take. Plug-ins declare theirs the same way (LocalQ.register_plugin)."""
    name: str
    default: object
    help: str
    choices: tuple = ()        # the only values it may take, if a few
    check: object = None       # value -> true if usable...
    must: str = ''             # ...and else what the error says it must: "workers must be at least 1"
    normalize: object = None   # applied before the checks (synchronous: 'full' means FULL)
    owner: str = 'localq'      # who declares it: the core, or a plug-in ('documents', 'lab')

    @property
    def type(self):
        return type(self.default)

    def clean(self, value):
        """The value in the setting's type, normalized and checked; ConfigError saying what it must be."""
        if not isinstance(value, self.type):
            try:
                value = self.type(value)
            except (TypeError, ValueError):
                raise ConfigError('setting %s must be %s, got %r' % (self.name, self.type.__name__, value)) from None
        if self.normalize is not None:
            value = self.normalize(value)
        if self.choices and value not in self.choices:
            raise ConfigError('%s must be one of %s, got %r' % (self.name, self.choices, value))
        if self.check is not None and not self.check(value):
            raise ConfigError('%s must %s, got %r' % (self.name, self.must, value))
        return value


def _is_time_zone(name):
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def _names_a_queue(queues):
    return bool([q for q in queues.split(',') if q.strip()])


# The core's settings, in the README's order. Plug-ins' settings join an app's Config when the
# plug-in is registered on it (Config.declare), never this registry.
SETTINGS = {s.name: s for s in (
    Setting('data_dir', DEFAULT_DATA_DIR, 'Folder for the SQLite file and uploads.'),
    Setting('database_url', '', 'Database URL; empty means sqlite:///<data_dir>/localq.db.'),
    Setting('host', '127.0.0.1', 'Address the web app binds to.'),
    Setting('port', 8000, 'Port the web app binds to.', check=lambda v: 0 < v < 65536, must='be 1-65535'),
    Setting('workers', 2, 'Worker threads (or processes) of the embedded or CLI worker.',
            check=lambda v: v >= 1, must='be at least 1'),
    Setting('worker_type', 'thread', 'thread or process.', choices=('thread', 'process')),
    Setting('queues', 'high,default,low', 'Queues a worker serves (priority= orders jobs, not the queue list).',
            check=_names_a_queue, must='name at least one queue'),
    Setting('default_queue', 'default', 'Queue of a task declared without queue=.',
            check=lambda v: re.match(r'^[\w.-]{1,100}$', v), must='be a queue name of letters, digits, "_", "-", "."'),
    Setting('max_tasks_per_child', 0, 'A worker thread or process is replaced after this many jobs (0: never).',
            check=lambda v: v >= 0, must='be 0 (never) or more'),
    Setting('worker_name', '', 'Name shown for this worker; empty means host:pid.'),
    Setting('wakeup', 'auto', 'How an idle SQLite worker learns of another process\'s commit: auto (inotify on '
            'Linux, else poll) or poll.', choices=('auto', 'poll')),
    Setting('poll_interval', 0.005, 'Seconds between checks for another process\'s commit when polling.'),
    Setting('heartbeat_interval', 2.0, 'Seconds between worker heartbeats.'),
    Setting('lease_timeout', 15.0, 'Seconds without a heartbeat after which a running job is lost.'),
    Setting('shutdown_timeout', 0.0, 'Seconds a warm stop (the first Ctrl-C or SIGTERM, the dashboard\'s Stop) '
            'waits for running jobs before a cold stop interrupts them; 0: until they finish, as Celery\'s warm '
            'shutdown (a second Ctrl-C stops at once).'),
    Setting('synchronous', 'NORMAL', 'SQLite synchronous pragma: NORMAL (fast, safe on a crash) or FULL.',
            choices=('NORMAL', 'FULL'), normalize=str.upper),
    Setting('busy_timeout', 10.0, 'Seconds SQLite waits for a lock before giving up.'),
    Setting('keep_succeeded_days', 7.0, 'Finished jobs older than this are pruned.'),
    Setting('keep_failed_days', 30.0, 'Failed jobs older than this are pruned.'),
    Setting('keep_max_jobs', 1000000, 'At most this many finished jobs are kept.'),
    Setting('max_upload_mb', 50, 'Largest accepted upload, in MiB.'),
    Setting('max_message_mb', 16, 'Largest task message (its arguments, as JSON), in MiB.',
            check=lambda v: v >= 1, must='be at least 1'),
    Setting('secret_key', '', 'Key for CSRF tokens; empty means a random key per start.'),
    Setting('auth_token', '', 'Token required when binding to anything but loopback.'),
    Setting('allowed_hosts', '', 'Host names the web app answers to besides loopback and its bound address '
            '(comma-separated; .example.com for subdomains).'),
    Setting('web_threads', 8, 'Threads of the web server.', check=lambda v: v >= 1, must='be at least 1'),
    Setting('request_timeout', 30.0, 'Seconds the web server waits on a silent or stalled connection before '
            'closing it.', check=lambda v: v > 0, must='be above 0 seconds'),
    Setting('timezone', 'UTC', 'Time zone the periodic tasks\' crontabs are read in (an IANA name such as '
            'Europe/Paris).', check=_is_time_zone, must='be an IANA time zone name such as UTC or Europe/Paris'),
)}


class Config:
    """The values of one app's settings: the core's (SETTINGS) and those of its plug-ins."""

    def __init__(self, settings=None):
        settings = dict(SETTINGS if settings is None else settings)
        object.__setattr__(self, '_settings', settings)
        object.__setattr__(self, '_values', {name: s.default for name, s in settings.items()})

    def __getattr__(self, name):
        values = self.__dict__.get('_values', {})
        if name not in values:
            raise AttributeError('%s: %s' % (name, unknown_setting(name, self.settings)))
        return values[name]

    def __setattr__(self, name, value):
        """config.keep_max_jobs = 100: set as is (tests); replace() converts and checks."""
        if name not in self._settings:
            raise unknown_setting(name, self.settings)
        self._values[name] = value

    def __repr__(self):
        return 'Config(%s)' % ', '.join('%s=%r' % item for item in self._values.items())

    @property
    def settings(self):
        """{name: Setting} of every setting this config holds, core ones first."""
        return self._settings

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

    def _copy(self, settings=None):
        copy = Config(dict(self._settings, **(settings or {})))
        copy._values.update(self._values)
        return copy

    def replace(self, **overrides):
        """A copy with some settings changed (None values are ignored), validated."""
        unknown = sorted(set(overrides) - set(self._settings))
        if unknown:
            raise unknown_setting(unknown[0], self.settings)
        copy = self._copy()
        copy._values.update({k: self._settings[k].clean(v) for k, v in overrides.items() if v is not None})
        return validate(copy)

    def declare(self, settings, environ=None):
        """A copy that also holds these settings (a plug-in's): their defaults, then their LOCALQ_<NAME>
        variables. A setting this config holds already keeps its value."""
        new = {s.name: s for s in settings if s.name not in self._settings}
        copy = self._copy(new)
        return copy.replace(**_from_environ(new, environ))


def validate(config):
    """Raise ConfigError when settings cannot work together (each one's own checks are in its Setting)."""
    if config.lease_timeout <= config.heartbeat_interval:
        raise ConfigError('lease_timeout (%s) must exceed heartbeat_interval (%s)' % (
            config.lease_timeout, config.heartbeat_interval))
    return config


def _from_environ(settings, environ=None):
    environ = os.environ if environ is None else environ
    return {name: environ['LOCALQ_' + name.upper()] for name in settings if 'LOCALQ_' + name.upper() in environ}


def from_env(environ=None, **overrides):
    """The core's settings: defaults, then LOCALQ_<NAME> variables, then the given overrides."""
    values = _from_environ(SETTINGS, environ)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config().replace(**values)


def markdown_table(settings):
    """The README's settings table: one row per Setting, in order."""
    lines = ['| setting | default | meaning | declared by |', '| --- | --- | --- | --- |']
    for s in settings:
        lines.append('| %s | %s | %s | %s |' % (s.name, s.default if s.default != '' else '(empty)', s.help, s.owner))
    return '\n'.join(lines) + '\n'


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


def setting_names(settings=None):
    """Every name app.conf takes: localq's settings (the core's, or these), then Celery's."""
    return (list(SETTINGS if settings is None else settings) + sorted(CELERY_NAMES) + sorted(TASK_DEFAULTS)
            + list(APP_SETTINGS) + sorted(CELERY_IGNORED))


def unknown_setting(key, settings=None):
    """The ConfigError for a name app.conf does not take, with the closest names it does (among
    the core's settings, or these: an app's, with its plug-ins')."""
    if key in CELERY_UNSUPPORTED:
        return ConfigError('%s is not supported by localq: %s' % (key, CELERY_UNSUPPORTED[key]))
    close = difflib.get_close_matches(str(key).lower(), setting_names(settings), n=3, cutoff=0.75)
    hint = ('; did you mean %s?' % ' or '.join(close)) if close else \
        '; localq has %s; Celery names it takes: %s' % (', '.join(SETTINGS if settings is None else settings),
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
