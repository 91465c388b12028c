"""Settings: defaults, then LOCALQ_* environment variables, then explicit overrides.

This is the only module that reads os.environ.
"""
import dataclasses
import logging
import os
import re

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
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError('unknown setting(s) %s; known: %s' % (
                ', '.join(sorted(unknown)), ', '.join(sorted(known))))
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


# Celery's names for settings localq also has: app.conf.update() and config_from_object() take
# either name (the seeds write celery_app.conf.update(worker_max_tasks_per_child=1000)).
CELERY_NAMES = {
    'worker_concurrency': 'workers',
    'worker_pool': 'worker_type',
    'worker_max_tasks_per_child': 'max_tasks_per_child',
    'task_default_queue': 'default_queue',
}
CELERY_POOLS = {'threads': 'thread', 'thread': 'thread', 'prefork': 'process', 'process': 'process'}
# Celery settings that mean nothing here, with why: accepted (so a Celery config loads), not applied.
CELERY_IGNORED = {
    'broker_url': 'the database is the broker (database_url)',
    'result_backend': 'results are in the job rows (database_url)',
    'task_serializer': 'messages are always JSON',
    'result_serializer': 'results are always JSON',
    'accept_content': 'messages are always JSON',
    'timezone': 'times are stored as UTC seconds; crontabs run in UTC',
    'enable_utc': 'times are stored as UTC seconds',
    'task_track_started': 'STARTED is always recorded',
    'result_expires': 'finished jobs are pruned by keep_succeeded_days / keep_failed_days',
    'task_queues': 'queues exist when used; a worker chooses them with -Q',
    'broker_connection_retry_on_startup': 'there is no broker connection',
    'worker_prefetch_multiplier': 'a worker claims one job at a time',
}
logger = logging.getLogger(__name__)


class Conf:
    """app.conf: the settings as a mapping users can read and update, under localq's names or Celery's."""

    def __init__(self, app):
        self._app = app
        self._ignored = {}

    def _name(self, key):
        if key in CELERY_IGNORED:
            return None
        name = CELERY_NAMES.get(key, key)
        if name not in {f.name for f in dataclasses.fields(Config)}:
            raise ConfigError('unknown setting %r; localq has %s; Celery names it understands: %s' % (
                key, ', '.join(s[0] for s in SETTINGS), ', '.join(sorted(CELERY_NAMES))))
        return name

    def __getitem__(self, key):
        name = self._name(key)
        if name is None:
            if key not in self._ignored:
                raise KeyError(key)
            return self._ignored[key]
        return getattr(self._app.config, name)

    def __getattr__(self, key):
        if key.startswith('_'):
            raise AttributeError(key)
        try:
            return self[key]
        except (KeyError, ConfigError) as exc:
            raise AttributeError(str(exc)) from None

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
        """Change settings by localq's or Celery's names (Celery-only ones are accepted, with a warning)."""
        values = dict(values, **more)
        settings = {}
        for key, value in values.items():
            name = self._name(key)
            if name is None:
                logger.warning('app.conf: %s has no effect in localq: %s', key, CELERY_IGNORED[key])
                self._ignored[key] = value
                continue
            if key == 'worker_pool':
                if value not in CELERY_POOLS:
                    raise ConfigError('worker_pool must be one of %s, got %r' % (', '.join(CELERY_POOLS), value))
                value = CELERY_POOLS[value]
            settings[name] = value
        if settings:
            self._app.configure(**settings)

    def config_from_object(self, obj):
        """Read settings from a module (or its dotted name), a class or a dict: every attribute that
        names a setting, by localq's or Celery's name; other attributes are left alone."""
        if isinstance(obj, str):
            import importlib
            obj = importlib.import_module(obj)
        items = obj.items() if isinstance(obj, dict) else ((k, getattr(obj, k)) for k in dir(obj))
        known = {s[0] for s in SETTINGS} | set(CELERY_NAMES) | set(CELERY_IGNORED)
        self.update({k: v for k, v in items if k in known})
