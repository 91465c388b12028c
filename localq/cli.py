"""The `localq` command (and `python run.py`): arguments -> Config -> worker and/or web."""
import argparse
import importlib
import json
import logging
import sys
import time

from . import plugins, replay
from .errors import ConfigError, LocalqError

DEFAULT_APP = replay.DEFAULT_APP
LOOPBACK = ('127.0.0.1', 'localhost', '::1')
LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']


def load_app(spec):
    """Import 'module:attribute' (attribute defaults to app) and return the LocalQ app."""
    module_name, _, attr = spec.partition(':')
    sys.path.insert(0, '.')
    module = importlib.import_module(module_name)
    app = getattr(module, attr or 'app')
    app.import_spec = spec   # how to load it again: the job page's replay command
    return app


def build_parser(plugin_commands=None):
    """The arguments of `localq`, with the commands of the app's plug-ins (plugins.Command)."""
    plugin_commands = plugin_commands or {}

    def common(parser, default):
        # Accepted before or after the command: `localq -A m:app worker` and `run.py --data-dir D`.
        parser.add_argument('-A', '--app', default=default(DEFAULT_APP), help='module:app to load (%s)' % DEFAULT_APP)
        parser.add_argument('--data-dir', default=default(None), help='folder for the database and uploads')
        parser.add_argument('--database-url', default=default(None), help='database URL (default: SQLite in data dir)')
        parser.add_argument('-v', '--verbose', action='store_true', default=default(False), help='log every job')
        parser.add_argument('-l', '--loglevel', type=str.upper, default=default(None),
                            choices=LOG_LEVELS,
                            help="log level, as celery's -l (INFO logs every job, like -v)")

    p = argparse.ArgumentParser(prog='localq', description='Background jobs on one SQLite file.')
    common(p, lambda value: value)
    shared = argparse.ArgumentParser(add_help=False)
    common(shared, lambda value: argparse.SUPPRESS)
    sub = p.add_subparsers(dest='command', required=True)
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[shared], **k)

    def worker_flags(sp):
        sp.add_argument('-c', '--concurrency', type=int, help='worker threads or processes')
        sp.add_argument('-P', '--pool', choices=sorted(POOLS), help='thread (default) or process; '
                        "Celery's names too: threads, prefork, solo (one thread)")
        sp.add_argument('-Q', '--queues', help='comma-separated queues to serve, e.g. high,default')
        sp.add_argument('-B', '--beat', action='store_true',
                        help='accepted for Celery: every worker runs the periodic tasks already')
        sp.add_argument('--reload', action='store_true', help='restart when a Python file under the current '
                        'folder (or --reload-dir) changes, after the running jobs finish')
        sp.add_argument('--reload-dir', metavar='DIR', help='the folder --reload watches (default: the current one)')

    run = sub.add_parser('run', help='web app + embedded worker (what python run.py does)')
    run.add_argument('--host', help='address to bind (default 127.0.0.1)')
    run.add_argument('--port', type=int, help='port to bind (default 8000)')
    worker_flags(run)
    worker = sub.add_parser('worker', help='run a worker against the same database')
    worker_flags(worker)
    worker.add_argument('-n', '--hostname', help="worker name shown on the dashboard (Celery's %%h, %%n, %%d expand)")
    beat = sub.add_parser('beat', help='queue the periodic tasks only, running none (workers schedule them too)')
    beat.add_argument('--max-interval', type=float, default=1.0, help='seconds between two ticks (1)')
    worker.add_argument('--max-tasks-per-child', type=int, help='restart a worker after N jobs')
    enqueue = sub.add_parser('enqueue', help='queue a task: localq enqueue localq.add 2 3')
    enqueue.add_argument('task')
    enqueue.add_argument('args', nargs='*', help='arguments, each read as JSON (else as a string)')
    enqueue.add_argument('--kwargs', default='{}', help='keyword arguments as a JSON object')
    enqueue.add_argument('--queue')
    enqueue.add_argument('--wait', type=float, help='wait this many seconds for the result')
    status = sub.add_parser('status', help='show one job as JSON')
    status.add_argument('job_id')
    requeue = sub.add_parser('requeue', help='run failed (dead-letter) jobs again')
    requeue.add_argument('job_ids', nargs='*')
    requeue.add_argument('--all-failed', action='store_true', help='every FAILURE job (with --task: of that task)')
    requeue.add_argument('--task')
    again = sub.add_parser('replay', help="run a job's task here with its recorded arguments (no job row written "
                           'unless --record)')
    again.add_argument('job_id')
    again.add_argument('--pdb', action='store_true', help='stop in the debugger where it raises')
    again.add_argument('--record', action='store_true', help='run it as one more attempt of the job (failed or '
                       'revoked ones): its outcome is stored as a worker would store it')
    migrate = sub.add_parser('migrate', help='copy this data folder (SQLite) into an empty PostgreSQL database')
    migrate.add_argument('to', metavar='DATABASE_URL', help='e.g. postgresql://user@db-host:5432/localq')
    settings = sub.add_parser('settings', help="the app's settings and their values")
    settings.add_argument('--markdown', action='store_true', help="as the README's table")
    for command in plugin_commands.values():   # the app's plug-ins' (localq lab)
        command.load().add_arguments(sub.add_parser(command.name, help=command.help))
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # The log level, then the app (-A, before or after the command): its plug-ins may add commands.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument('-A', '--app', default=DEFAULT_APP)
    first.add_argument('-v', '--verbose', action='store_true')
    first.add_argument('-l', '--loglevel', type=str.upper)
    first.add_argument('--reload', action='store_true')
    first.add_argument('--reload-dir', default='.')
    early = first.parse_known_args(argv)[0]
    if early.reload and ('run' in argv or 'worker' in argv):
        # Before the app is imported: the supervisor runs none of its code, so an error in it
        # only stops the child, and the next save starts it again (reload.py).
        from . import reload
        return reload.supervise(reload.without_reload_flags(argv), early.reload_dir)
    logging.basicConfig(level=early.loglevel if early.loglevel in LOG_LEVELS else
                        (logging.INFO if early.verbose else logging.WARNING),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        app = load_app(early.app)
    except (ConfigError, LocalqError) as exc:
        print('localq: %s' % exc, file=sys.stderr)
        return 2
    args = build_parser(plugins.commands(app)).parse_args(argv)
    # waitress warns about a full task queue; with -v it also says who connected.
    logging.getLogger('waitress').setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        settings = {'data_dir': args.data_dir, 'database_url': args.database_url}
        for flag, name in (('concurrency', 'workers'), ('pool', 'worker_type'), ('queues', 'queues'),
                           ('host', 'host'), ('port', 'port'), ('hostname', 'worker_name')):
            settings[name] = getattr(args, flag, None)
        if settings['worker_type']:
            if settings['worker_type'] == 'solo':   # Celery's solo pool: one job at a time
                settings['workers'] = 1
            settings['worker_type'] = POOLS[settings['worker_type']]
        if settings['worker_name']:
            settings['worker_name'] = expand_hostname(settings['worker_name'])
        app.configure(**settings)
        command = COMMANDS.get(args.command) or plugins.commands(app)[args.command].load().run
        return command(app, args)
    except (ConfigError, LocalqError) as exc:
        print('localq: %s' % exc, file=sys.stderr)
        return 2


# -P values: localq's and Celery's names (eventlet and gevent have no counterpart: refused by argparse).
POOLS = {'thread': 'thread', 'threads': 'thread', 'solo': 'thread', 'process': 'process', 'prefork': 'process'}


def expand_hostname(name):
    """Celery's -n placeholders: %h (host name), %n (its first label), %d (its domain)."""
    import socket
    host = socket.getfqdn() or socket.gethostname()
    short, _, domain = host.partition('.')
    return name.replace('%h', host).replace('%n', short).replace('%d', domain)


def cmd_beat(app, args):
    """Tick the app's periodic tasks (beat.py) until Ctrl-C or SIGTERM, running none of them."""
    import signal
    import threading
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ticker = app.beat.ticker()
    names = [e.name for e in app.beat.entries()]
    print('localq beat: %d periodic task(s): %s' % (len(names), ', '.join(names) or 'none'), flush=True)
    try:
        while not stop.is_set():
            ticker.tick()
            stop.wait(args.max_interval)
    finally:
        app.close()
    return 0


def cmd_worker(app, args):
    from .worker import LocalqConsumer
    for module in app.include:   # Celery(..., include=[...]): the task modules the worker must know
        importlib.import_module(module)
    consumer = LocalqConsumer(app, max_tasks=args.max_tasks_per_child or app.config.max_tasks_per_child or None)
    consumer.on_ready = lambda: print('localq worker %s: %d %s worker(s) on queues %s, database %s' % (
        consumer.worker_id, consumer.workers, consumer.worker_type, ','.join(app.huey.storage.queues),
        app.config.resolved_database_url), flush=True)
    try:
        consumer.run()
    finally:
        app.close()
    return 0


def cmd_run(app, args):
    from .web import create_app
    from .web.server import make_server_on_free_port
    from .worker import LocalqConsumer
    cfg = app.config
    if cfg.host not in LOOPBACK and not cfg.auth_token:
        raise ConfigError('refusing to bind %s without LOCALQ_AUTH_TOKEN: anyone on the network could '
                          'run and cancel jobs. Set a token, or bind 127.0.0.1.' % cfg.host)
    web = create_app(app)
    server = make_server_on_free_port(web, cfg)
    url = 'http://%s:%d/' % (cfg.host if ':' not in cfg.host else '[%s]' % cfg.host, server.port)
    consumer = LocalqConsumer(app)
    server.start()
    consumer.on_ready = lambda: print('localq is running at %s  (database %s; %d %s worker(s); Ctrl-C to stop)' % (
        url, cfg.resolved_database_url, consumer.workers, consumer.worker_type), flush=True)
    try:
        consumer.run()
    finally:
        server.shutdown()
        plugins.on_exit(app)   # e.g. the lab's worker processes, if the lab page started any
        app.close()
    return 0


def parse_arg(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_enqueue(app, args):
    task = app.tasks.get(args.task)
    if task is None:
        raise LocalqError('no task named %r; known: %s' % (args.task, ', '.join(sorted(app.tasks))))
    result = task.apply_async([parse_arg(a) for a in args.args], json.loads(args.kwargs), queue=args.queue)
    print(result.id, flush=True)
    if args.wait:
        value = result.get(timeout=args.wait, propagate=False)
        if result.state != 'SUCCESS':   # the task's error in one line, not a traceback
            print('localq: job %s ended %s: %s: %s' % (result.id, result.state, type(value).__name__, value),
                  file=sys.stderr)
            return 1
        print(json.dumps(value))
    return 0


def cmd_status(app, args):
    from .monitor import jobs
    app.setup()
    job = jobs.get_job(args.job_id, with_attempts=True)
    job['why_waiting'] = jobs.explain_wait(app, job)   # as on its page: why it has not run yet
    print(json.dumps(job, indent=2, default=str))
    return 0


def cmd_requeue(app, args):
    from . import actions
    from .models import Job
    app.setup()
    ids = list(args.job_ids)
    if args.all_failed:
        query = Job.select(Job.id).where(Job.state == 'FAILURE', Job.finished_at.is_null(False))   # job_finished
        if args.task:
            query = query.where(Job.task == args.task)
        ids += [j.id for j in query]
    done = actions.requeue(app, ids)
    print('re-queued %d job(s)' % len(done))
    return 0


def cmd_replay(app, args):
    app.setup()
    if args.record:
        if args.pdb:
            raise LocalqError('--record and --pdb do not go together: debug with --pdb, then --record the fix')
        return replay.replay_and_record(app, args.job_id)
    return replay.describe(replay.replay(app, args.job_id, debug=args.pdb))


def cmd_migrate(app, args):
    from playhouse.db_url import connect

    from .migrate import migrate
    source_url = app.config.resolved_database_url
    if not source_url.startswith('sqlite'):
        raise ConfigError('migrate copies a SQLite data folder; the source here is %s' % source_url)
    app.setup()
    online = app.query.sql('SELECT COUNT(*) FROM worker WHERE stopped_at IS NULL AND last_seen > ?',
                                  (time.time() - app.config.lease_timeout,)).fetchone()[0]
    if online:
        raise ConfigError('%d worker(s) still run on %s: stop them (and run.py) first' % (online, source_url))
    dest = connect(args.to)
    print('copying %s -> %s' % (source_url, args.to), flush=True)
    copied = migrate(app.database, dest, app.models)
    dest.close()
    print('done: %d rows in %d tables. Start workers and the app with --database-url %s' % (
        sum(copied.values()), len(copied), args.to))
    return 0


def cmd_settings(app, args):
    """Every setting of the app (the core's and its plug-ins'): its value here, or the README's table."""
    from .config import markdown_table
    if args.markdown:
        print(markdown_table(app.config.settings.values()), end='')
        return 0
    for s in app.config.settings.values():
        print('%-20s %-24r %s' % (s.name, getattr(app.config, s.name), s.help))
    return 0


COMMANDS = {'beat': cmd_beat, 'settings': cmd_settings, 'migrate': cmd_migrate, 'run': cmd_run, 'worker': cmd_worker, 'enqueue': cmd_enqueue, 'status': cmd_status,
            'requeue': cmd_requeue, 'replay': cmd_replay}


if __name__ == '__main__':
    raise SystemExit(main())
