"""Stops that keep their word: a warm stop says what it waits for, a cold stop what it interrupts.

Huey's Consumer.stop(graceful=True) joins the workers (up to shutdown_timeout), and a second
SIGINT or SIGTERM meanwhile interrupts them; it says so only at INFO, which a terminal at the
default level never shows ("nothing printed for 10 s", issue #22). This mixin keeps Huey's
mechanics and adds what a person at the terminal, and the job rows, need to know:
  - a warm stop (the first Ctrl-C or SIGTERM, the dashboard's Stop) names the running jobs it
    waits for, every few seconds, and how to stop at once;
  - a cold stop (the second, or shutdown_timeout) names the jobs it interrupts, and tells the
    job tracker why, so their rows say "interrupted by a cold stop of worker X" (acks_late runs go
    back to the queue at once: JobTracker.on_interrupted).
"""
import logging
import sys
import time

from .states import SQL_RUNNING

logger = logging.getLogger('localq.worker')

SAY_WAITING_EVERY = 5.0  # seconds between a warm stop's reports of the jobs it waits for


class SaysHowItStops:
    """Mixed into LocalqConsumer, before Huey's Consumer (it overrides two of its steps)."""

    def _join_workers(self):
        procs = [p for _, p in self.worker_threads] + [self.scheduler]
        deadline = time.monotonic() + self.shutdown_timeout if self.shutdown_timeout else None
        say_at = time.monotonic()
        while True:
            alive = [p for p in procs if self.environment.is_alive(p)]
            now = time.monotonic()
            if not alive:
                return True
            if deadline is not None and now >= deadline:
                self.app.tracker.interrupted_by = 'a cold stop of worker %s: shutdown_timeout (%g s) elapsed' % (
                    self.worker_id, self.shutdown_timeout)
                return False
            if now >= say_at:
                self._say(self._warm_stop_report(deadline))
                say_at = now + SAY_WAITING_EVERY
            alive[0].join(min(0.25, deadline - now) if deadline is not None else 0.25)

    def _interrupt_workers(self):
        if self.app.tracker.interrupted_by is None:
            self.app.tracker.interrupted_by = 'a cold stop of worker %s (a second Ctrl-C or SIGTERM)' % self.worker_id
        running = self._running_jobs()
        if running:
            self._say('cold stop: interrupting %s; acks_late jobs go back to the queue for another worker now, '
                      'the others end FAILURE (interrupted by the stop)' % self._describe(running))
        super()._interrupt_workers()

    def _warm_stop_report(self, deadline):
        running = self._running_jobs()
        if running == []:
            return 'warm stop: no job is running; stopping'
        what = self._describe(running) if running else 'the running jobs'
        then = ('; a cold stop in %.0f s (shutdown_timeout)' % max(0.0, deadline - time.monotonic())
                if deadline is not None else '')
        return 'warm stop: claiming nothing more, waiting for %s%s; Ctrl-C again to stop now' % (what, then)

    def _running_jobs(self):
        """[(task, job id, seconds running)] of this worker, or None if the database cannot say."""
        try:
            rows = self.app.query.sql('SELECT task, id, started_at FROM job WHERE worker = ? AND %s '
                                             'ORDER BY started_at' % SQL_RUNNING, (self.worker_id,)).fetchall()
        except Exception:
            return None
        return [(task, job_id, time.time() - (started or time.time())) for task, job_id, started in rows]

    @staticmethod
    def _describe(running):
        shown = ', '.join('%s %s\u2026 (%.0f s)' % (task, job_id[:8], age) for task, job_id, age in running[:5])
        more = ' and %d more' % (len(running) - 5) if len(running) > 5 else ''
        return '%d running job%s: %s%s' % (len(running), '' if len(running) == 1 else 's', shown, more)

    def _say(self, text):
        """A stop's news, for the person at the terminal whatever the log level (and in the log)."""
        line = 'localq worker %s: %s' % (self.worker_id, text)
        logger.info(line)
        print(line, file=sys.stderr, flush=True)
