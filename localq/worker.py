"""The worker: Huey's consumer with prompt wake-up, heartbeats, leases and rescue.

Extensions to Huey's Consumer, each where Huey cannot give the guarantee:
  - LocalqWorker.sleep(): Huey polls an empty queue with a growing delay (up
    to 10 s). An idle worker here sleeps on its process's Wakeup (wakeup.py:
    a local enqueue, another process's commit seen through inotify or
    PRAGMA data_version, a PostgreSQL NOTIFY) or until the next eta, so it
    starts a new job within milliseconds and costs nothing while idle.
  - the heartbeat thread renews the leases of the runs this process holds and
    gives up those it no longer holds (leases.py), delivers revocations to
    running jobs, and rescues jobs of dead workers.
  - thread workers get time limits from the watchdog (Huey has none there).
  - stops keep their word (stops.py): the first Ctrl-C or SIGTERM is
    a warm stop (nothing more is claimed, running jobs finish, the terminal says
    which), the second, or shutdown_timeout, a cold stop (acks_late runs are
    released for another worker at once, the others end saying a stop
    interrupted them).
"""
import ctypes
import logging
import os
import signal
import socket
import threading
import time

from huey.consumer import Consumer, ProcessEnvironment, ThreadEnvironment, Worker, WorkerRecycle

from .beat import LocalqScheduler
from .leases import deliver_revokes, renew_held_runs
from .outage import Outage, log_task_errors_once
from .recovery import recover_stale_jobs
from .stops import SaysHowItStops
from .textindex import catch_up
from .upkeep import Upkeep
from .watchdog import interrupt
from .states import SQL_CLAIMABLE

logger = logging.getLogger(__name__)

INDEX_EVERY = 5.0    # SQLite: seconds between adding new jobs to the text index
ANALYZE_EVERY = 30.0  # PostgreSQL: seconds between refreshes of the job table's statistics
HEARTBEAT_JOIN = 10.0  # seconds a stopping consumer waits for its heartbeat thread (a statement in flight)
# Seconds a worker's task list is kept after its last heartbeat (LocalQ.missing_task_note).
TASK_MEMORY = 86400


class LocalqThreadEnvironment(ThreadEnvironment):
    """Thread workers with enforced time limits and interruptible shutdown."""

    def __init__(self, app, *args):
        super().__init__(*args)
        self.app = app

    def timeout(self, seconds):
        return self.app.watchdog.hard_limit(seconds)

    def interrupt_workers(self, procs):
        for thread_id in list(self.app.watchdog.running.values()):
            interrupt(thread_id, KeyboardInterrupt)


def die_with_parent():
    """Ask the kernel to SIGKILL this process when its parent dies (Linux's PR_SET_PDEATHSIG);
    False where that is not available (the getppid() checks still stop it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


class LocalqProcessEnvironment(ProcessEnvironment):
    """Process workers whose children never outlive their worker.

    Why: leases, revokes and rescue live in the worker's main process. A child left running
    after its parent is SIGKILLed (an out-of-memory kill) kept claiming jobs with no heartbeat
    behind them: their leases ran out, another worker rescued them, and acks_late jobs ran
    twice; it ignored SIGTERM, since only its dead parent could set its stop flag. Now a child
    dies with its parent, and one whose parent is gone claims nothing more and exits: its
    running job is left to its lease (rescued once if acks_late, else FAILURE "worker lost")."""
    parent_pid = None   # set by the consumer before it forks

    def init_child(self, process):
        super().init_child(process)
        process.huey.storage.after_fork()   # never the parent's connection
        die_with_parent()
        if os.getppid() != self.parent_pid:   # the parent died before the line above
            os._exit(0)
        hueys_handler = signal.getsignal(self.interrupt)

        def on_interrupt(signum, frame):
            if os.getppid() != self.parent_pid:
                os._exit(0)   # orphaned: nobody will set the stop flag; SIGTERM means stop now
            hueys_handler(signum, frame)
        signal.signal(self.interrupt, on_interrupt)


class LocalqWorker(Worker):
    def __init__(self, app, *args, parent_pid=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.parent_pid = parent_pid   # process workers: the consumer's pid
        self.outage = Outage('worker thread', app.config.data_dir)

    def initialize(self):
        super().initialize()
        if self.parent_pid is not None:
            self._leases_stop = threading.Event()
            threading.Thread(target=self.keep_leases, name='localq-leases', daemon=True).start()

    def keep_leases(self):
        """A process worker's child: renew the lease of the run it holds, stop it when a user
        revokes it or when it is no longer this worker's (leases.py). The consumer's heartbeat
        knows neither what a child holds nor how to reach its thread, so the child does it, as
        often as a heartbeat beats, and touches the database only while it holds a run."""
        outage = Outage('leases of worker process', self.app.config.data_dir)
        try:
            while not self._leases_stop.wait(self.app.config.heartbeat_interval if outage.since is None
                                             else outage.pause()):
                try:
                    renew_held_runs(self.app, self.huey.storage.worker_id, time.time())
                    outage.over()
                except Exception as exc:
                    outage.failed(exc)
        finally:
            self.huey.storage.close()   # this thread's connection

    def shutdown(self):
        if getattr(self, '_leases_stop', None) is not None:
            self._leases_stop.set()
        super().shutdown()

    def check_parent(self):
        """A process worker whose consumer has died stops before claiming anything more."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            self.huey.storage.flush_deferred()
            logger.warning('worker process %d: its consumer (pid %d) is gone; stopping', os.getpid(), self.parent_pid)
            os._exit(0)

    def loop(self, now=None):
        """Huey's Worker.loop, but a failed claim (the database unreachable, its disk full) is one
        log line per outage and a growing pause, not a traceback every few milliseconds; and an
        outcome waiting to be written is kept until it is."""
        self.check_parent()
        try:
            task = self.huey.dequeue()
        except Exception as exc:
            self.outage.failed(exc)
            self.stop_flag.wait(self.outage.pause())
            return
        self.outage.over()
        if task is None:
            self.sleep()
        else:
            self.task_count += 1
            try:
                self.huey.execute(task, now)
            except Exception:
                self._logger.exception('Unhandled error during execution of task %s.', task.id)
            if self.max_tasks and self.task_count >= self.max_tasks:
                # This worker exits without another claim, so the outcome deferred to that
                # claim must be written now (else the job looks lost once its lease runs out).
                self.flush_deferred()
                self._logger.info('Worker reached max tasks (%d), exiting.', self.max_tasks)
                raise WorkerRecycle()
        if self.stop_flag.is_set():
            self.flush_deferred()   # the last outcome may be waiting for a next claim that won't come

    def flush_deferred(self):
        try:
            self.huey.storage.flush_deferred()
            return True
        except Exception as exc:   # kept: the next claim or idle spell writes it
            self.outage.failed(exc)
            return False

    def sleep(self):
        # dequeue() flushes a deferred outcome with its claim; this covers a
        # dequeue that raised, so an outcome never waits through an idle spell.
        if not self.flush_deferred():
            self.stop_flag.wait(self.outage.pause())
            return
        try:
            self._wait_for_work()
        except Exception as exc:
            self.outage.failed(exc)
            self.stop_flag.wait(self.outage.pause())

    def _wait_for_work(self):
        """Sleep until a job may be ready: this process's wake-up (a local enqueue, another
        process's commit or NOTIFY: wakeup.py), the earliest eta of a job this worker could
        claim, or max_delay, a safety net that costs one read a second."""
        storage = self.huey.storage
        seen = self.app.wakeup.generation   # before the read: a commit after it wakes us
        qsql, qparams = storage.claim_filter(time.time())
        # Pinned to job_claim: with a worker's task filter SQLite would walk (task, queued_at) over
        # every job of its tasks (150 ms a wait at 50k rows in a soak: 65% of a thread worker's time).
        row = self.app.query.sql("SELECT MIN(eta) FROM %s WHERE %s%s AND queue NOT IN (SELECT name FROM queue_pause)"
                                 % (self.app.query.table_by('job_claim'), SQL_CLAIMABLE, qsql), qparams).fetchone()
        wake_at = min(row[0] if row[0] is not None else float('inf'), time.time() + self.max_delay)
        self.check_parent()
        if not self.stop_flag.is_set():
            self.app.wakeup.wait(seen, wake_at - time.time())


class LocalqConsumer(SaysHowItStops, Consumer):
    """Huey's Consumer for a LocalQ app; see the module docstring."""
    scheduler_class = LocalqScheduler
    on_ready = None   # called once the workers run and stop signals are handled

    def __init__(self, app, workers=None, worker_type=None, queues=None, name=None, max_tasks=None):
        self.app = app
        cfg = app.config
        app.setup()
        log_task_errors_once()
        storage = app.huey.storage
        storage.queues = list(queues or cfg.queue_list)
        # The app's own dict, not a copy: a task declared in this process after the worker
        # started (documents.init_app in a test, a plug-in) is claimable at once (claim_filter).
        storage.known_tasks = app.tasks
        self.worker_id = name or cfg.worker_name or '%s:%d' % (socket.gethostname(), os.getpid())
        storage.worker_id = self.worker_id
        super().__init__(app.huey, workers=workers or cfg.workers,
                         worker_type=worker_type or cfg.worker_type,
                         initial_delay=cfg.poll_interval, max_delay=1.0, backoff=1.0,
                         periodic=True, check_worker_health=True, health_check_interval=1,
                         max_tasks=max_tasks, shutdown_timeout=cfg.shutdown_timeout or None)
        # Ctrl-C and SIGTERM both mean "finish what you run, then stop".
        self._signal_actions[signal.SIGINT] = (False, True)
        self._signal_actions[signal.SIGTERM] = (False, True)
        self._heartbeat_stop = threading.Event()
        self._heartbeat = None

    def get_environment(self, worker_type):
        if worker_type == 'thread':
            return LocalqThreadEnvironment(self.app, self._graceful_sig, self._interrupt_sig)
        if worker_type == 'process':
            return LocalqProcessEnvironment(self._graceful_sig, self._interrupt_sig)
        return super().get_environment(worker_type)

    def _create_scheduler(self):
        scheduler = super()._create_scheduler()
        self.app.beat.entries()   # a bad beat_schedule stops the worker from starting, saying why
        scheduler.beat = self.app.beat.ticker()
        return scheduler

    def _create_worker(self):
        return LocalqWorker(self.app, huey=self.huey, stop_flag=self.stop_flag,
                            default_delay=self.default_delay, max_delay=self.max_delay,
                            backoff=self.backoff, max_tasks=self.max_tasks,
                            parent_pid=os.getpid() if self.environment.forks else None)

    # -- lifecycle ----------------------------------------------------------
    def start(self):
        if self.environment.forks:
            self.environment.parent_pid = os.getpid()
            self.app.database.close()  # children must not share the parent's connection
        # Huey installs its SIGINT/SIGTERM handlers after it has started the workers, so a job
        # could be claimed (and seen STARTED) while a SIGTERM still killed the process outright,
        # leaving the run to its lease (CI saw exit -15). Heard before the first claim instead;
        # Huey's start() installs the same handlers again, and forked children set their own.
        self._set_signal_handlers()
        super().start()
        # The worker's row appears once Huey's start() has installed the SIGINT/SIGTERM
        # handlers: whoever sees it online (the lab, a test, a script) may stop it at once.
        self._register()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name='localq-heartbeat', daemon=True)
        self._heartbeat.start()
        if self.on_ready is not None:
            # Only now: Huey's start() has installed the SIGINT/SIGTERM handlers, so whoever
            # reads "ready" (a user about to press Ctrl-C, a test about to send SIGINT) is heard.
            self.on_ready()

    embedded = False    # start_in_thread(): no signal handlers of its own
    _stopping = False

    def start_in_thread(self):
        """Start workers without signal handlers (the embedded worker of run.py)."""
        self.embedded = True
        self._set_signal_handlers = lambda: None
        self.start()

    def stop(self, graceful=False):
        self.stop_flag.set()
        self.app.wakeup.notify()  # idle workers see the stop now
        super().stop(graceful=graceful)
        if not self.environment.forks:
            # Huey interrupts running tasks but does not wait for them: give each
            # interrupted thread a moment to write its job's release before exit.
            deadline = time.monotonic() + 5.0
            for _, thread in self.worker_threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
        self._heartbeat_stop.set()
        self.app.wakeup.stop()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(HEARTBEAT_JOIN)
            if self._heartbeat.is_alive():
                logger.warning('worker %s: the heartbeat thread did not stop within %.0f s', self.worker_id,
                               HEARTBEAT_JOIN)

    def run(self):
        super().run()
        self._unregister()

    def shutdown(self):
        """Stop from another thread (embedded mode): graceful, then release the rest."""
        self.stop(graceful=True)
        self.huey.notify_interrupted_tasks()
        self._unregister()

    def _register(self):
        now = time.time()
        self.app.query.sql(
            'INSERT INTO worker (id, host, pid, queues, concurrency, worker_type, started_at, last_seen, processed) '
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, '
            'last_seen = excluded.last_seen, stopped_at = NULL, stop_requested = NULL, pid = excluded.pid, '
            'queues = excluded.queues',
            (self.worker_id, socket.gethostname(), os.getpid(), ','.join(self.app.huey.storage.queues),
             self.workers, self.worker_type, now, now))
        self._register_tasks()

    def _register_tasks(self):
        """Record the tasks this worker has, for the other workers' claims (JobStorage.claim_filter),
        and forget those of workers gone for longer than they count."""
        q = self.app.query
        with q.write_transaction():
            q.sql('DELETE FROM worker_task WHERE worker = ? OR worker NOT IN '
                  '(SELECT id FROM worker WHERE last_seen > ?)', (self.worker_id, time.time() - TASK_MEMORY))
            for name in self.app.tasks:
                q.sql('INSERT INTO worker_task (worker, task) VALUES (?, ?)', (self.worker_id, name))

    def _unregister(self):
        try:
            self.app.query.sql('UPDATE worker SET stopped_at = ? WHERE id = ?', (time.time(), self.worker_id))
        except Exception:
            logger.exception('could not mark worker %s stopped', self.worker_id)

    def _heartbeat_loop(self):
        cfg = self.app.config
        storage = self.app.query
        next_beat = next_sweep = next_analyze = next_index = 0.0
        upkeep = Upkeep(self.app, self.worker_id)   # pruning and WAL checkpoints, if this worker is elected
        outage = Outage('heartbeat of worker', cfg.data_dir)
        while not self._heartbeat_stop.wait(min(0.25, cfg.heartbeat_interval) if outage.since is None
                                            else outage.pause()):
            try:
                now = time.time()
                if now >= next_beat:
                    next_beat = now + cfg.heartbeat_interval
                    asked = storage.write('UPDATE worker SET last_seen = ? WHERE id = ? RETURNING stop_requested',
                                          (now, self.worker_id), rows=True)
                    if asked and asked[0][0] is not None:
                        self._stop_as_asked()
                    if not self.environment.forks:   # a -P process worker's children keep their own
                        renew_held_runs(self.app, self.worker_id, now)
                if now >= next_sweep:
                    next_sweep = now + cfg.heartbeat_interval
                    recover_stale_jobs(self.app, now)
                upkeep.tick(now)
                if storage.is_sqlite and now >= next_index:
                    next_index = now + INDEX_EVERY
                    catch_up(storage.database)   # the job list's text index, in batches (textindex.py)
                if not storage.is_sqlite and now >= next_analyze:
                    # PostgreSQL plans the claim from table statistics. After a burst
                    # of enqueues into a fresh table (before autovacuum's analyze,
                    # up to a minute later) it believes a few rows wait and sorts all
                    # of them on every claim (bench/bench_pg.py: 1 worker drained 362
                    # jobs/s without this, 625 with it).
                    next_analyze = now + ANALYZE_EVERY
                    storage.sql('ANALYZE job')
                if not self.environment.forks:
                    deliver_revokes(self.app)
                outage.over()
            except Exception as exc:
                # The database restarting, unreachable, or its disk full: one log line, then
                # reconnect (db.PostgresqlDatabase) and go on; the leases catch up at the next beat.
                outage.failed(exc)
                next_beat = next_sweep = 0.0
        storage.close()  # this thread's connection

    def _stop_as_asked(self):
        """The dashboard asked this worker to stop: stop as Ctrl-C would (running jobs finish,
        within shutdown_timeout). A `localq worker` process hears its own SIGINT; run.py's
        embedded worker stops in a thread of its own (the web app goes on)."""
        if self._stopping:
            return
        self._stopping = True
        logger.warning('worker %s: asked to stop from the dashboard; stopping gracefully', self.worker_id)
        if self.embedded:
            threading.Thread(target=self.shutdown, name='localq-stop', daemon=True).start()
        else:
            os.kill(os.getpid(), signal.SIGINT)

