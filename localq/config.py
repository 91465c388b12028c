"""Settings: defaults, then LOCALQ_* environment variables, then explicit overrides.

This is the only module that reads os.environ.
"""
import dataclasses
import os
import re
import zoneinfo

from .conf import Conf, unknown_setting   # noqa: F401 (Conf: app.conf, built by the app as config.Conf)
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
            'Linux, else watch), watch (watchfiles, any system) or poll.', choices=('auto', 'watch', 'poll')),
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
    Setting('read_only', False, 'Serve every page and GET of the API, refuse every change (403), hide the buttons.'),
    Setting('read_only_token', '', 'A second token (beside auth_token) that opens the dashboard read-only.'),
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
