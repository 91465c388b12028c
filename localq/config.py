"""Settings: defaults, then LOCALQ_* environment variables, then explicit overrides.

This is the only module that reads os.environ.
"""
import dataclasses
import os

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
    ('worker_name', '', 'Name shown for this worker; empty means host:pid.'),
    ('poll_interval', 0.005, 'Seconds an idle worker waits between cheap change checks.'),
    ('heartbeat_interval', 2.0, 'Seconds between worker heartbeats.'),
    ('lease_timeout', 15.0, 'Seconds without a heartbeat after which a running job is lost.'),
    ('shutdown_timeout', 10.0, 'Seconds a stopping worker waits for running jobs before releasing them.'),
    ('synchronous', 'NORMAL', 'SQLite synchronous pragma: NORMAL (fast, safe on a crash) or FULL.'),
    ('busy_timeout', 10.0, 'Seconds SQLite waits for a lock before giving up.'),
    ('keep_succeeded_days', 7.0, 'Finished jobs older than this are pruned.'),
    ('keep_failed_days', 30.0, 'Failed jobs older than this are pruned.'),
    ('keep_max_jobs', 1000000, 'At most this many finished jobs are kept.'),
    ('max_upload_mb', 50, 'Largest accepted upload, in MiB.'),
    ('secret_key', '', 'Key for CSRF tokens; empty means a random key per start.'),
    ('auth_token', '', 'Token required when binding to anything but loopback.'),
    ('lab_speed', 1.0, 'Classroom lab: rate limits and Retry-After waits run this many times faster.'),
)
WORKER_TYPES = ('thread', 'process')
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
    worker_name: str = ''
    poll_interval: float = 0.005
    heartbeat_interval: float = 2.0
    lease_timeout: float = 15.0
    shutdown_timeout: float = 10.0
    synchronous: str = 'NORMAL'
    busy_timeout: float = 10.0
    keep_succeeded_days: float = 7.0
    keep_failed_days: float = 30.0
    keep_max_jobs: int = 1000000
    max_upload_mb: int = 50
    secret_key: str = ''
    auth_token: str = ''
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
