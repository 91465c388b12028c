"""/metrics in Prometheus' text format: gauges read from the Job rows at scrape time, counters
and the runtime histogram from the outcome_counter table (localq/counters.py), which every
worker bumps with each outcome, so they are monotonic across processes and retention."""
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .. import counters, disk
from ..monitor import jobs, stats

bp = Blueprint('metrics', __name__)


class JobCollector:
    """Gauges read from the rows at scrape time (no state kept in the web process), each
    through an index: cheap with a million rows."""

    def collect(self):
        app = current_app.extensions['localq']
        by_state = GaugeMetricFamily('localq_jobs', 'Jobs by state', labels=['state'])
        for state, n in sorted(jobs.count_by_state(app).items()):
            by_state.add_metric([state], n)
        yield by_state
        families = {
            'ready': GaugeMetricFamily('localq_queue_length', 'Jobs waiting per queue (ready or scheduled)',
                                       labels=['queue']),
            'running': GaugeMetricFamily('localq_queue_running', 'Jobs running per queue', labels=['queue']),
            'failed': GaugeMetricFamily('localq_queue_failed', 'Failed jobs kept per queue', labels=['queue']),
            'paused': GaugeMetricFamily('localq_queue_paused', '1 if the queue is paused', labels=['queue']),
        }
        for q in stats.queue_table(app):
            families['ready'].add_metric([q['name']], q['ready'] + q['scheduled'])
            families['running'].add_metric([q['name']], q['running'])
            families['failed'].add_metric([q['name']], q['failed'])
            families['paused'].add_metric([q['name']], int(q['paused']))
        yield from families.values()
        online = GaugeMetricFamily('localq_workers_online', 'Worker processes with a current heartbeat')
        online.add_metric([], sum(w['online'] for w in jobs.list_workers(app)))
        yield online
        free = disk.free_bytes(app.config.data_dir)
        if free is not None:
            yield GaugeMetricFamily('localq_data_disk_free_bytes', "Free bytes on the data folder's disk", value=free)
        yield from outcome_families(counters.read(app.query))


def outcome_families(by_task):
    """Counters and the runtime histogram, per task (counters.read()); every series of a task
    that has finished anything is present, zeros included."""
    finished = CounterMetricFamily('localq_jobs_finished', 'Jobs a worker finished, by task and final state',
                                   labels=['task', 'state'])
    runtime = HistogramMetricFamily('localq_task_runtime_seconds',
                                    'Runtime of attempts that ran to an outcome (success, failure, timeout, '
                                    'retry, revoked while running), from start to end', labels=['task'])
    retries = CounterMetricFamily('localq_task_retries', 'Attempts that failed and left the job to retry',
                                  labels=['task'])
    lost = CounterMetricFamily('localq_jobs_lost', "Attempts whose worker was lost or stopped mid-run "
                               '(the job was rescued, failed or revoked)', labels=['task'])
    for task, c in sorted(by_task.items()):
        for state, n in sorted(c['finished'].items()):
            finished.add_metric([task, state], n)
        runtime.add_metric([task], c['buckets'], c['seconds'])
        retries.add_metric([task], c['retries'])
        lost.add_metric([task], c['lost'])
    yield from (finished, runtime, retries, lost)


registry = CollectorRegistry(auto_describe=False)  # collect() needs a request
registry.register(JobCollector())


@bp.get('/metrics')
def metrics():
    """Prometheus scrape endpoint."""
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
