"""/metrics in Prometheus' text format, read from the Job rows at scrape time."""
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .. import disk
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


registry = CollectorRegistry(auto_describe=False)  # collect() needs a request
registry.register(JobCollector())


@bp.get('/metrics')
def metrics():
    """Prometheus scrape endpoint."""
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
