"""/metrics in Prometheus' text format, read from the Job rows at scrape time."""
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .. import jobs

bp = Blueprint('metrics', __name__)


class JobCollector:
    """Counts per state and queue, and waiting jobs per queue; no state kept in the web process."""

    def collect(self):
        by_state = GaugeMetricFamily('localq_jobs', 'Jobs by state and queue', labels=['state', 'queue'])
        for state, queue, n in jobs.count_by_state_and_queue():
            by_state.add_metric([state, queue], n)
        yield by_state
        waiting = GaugeMetricFamily('localq_queue_length', 'Jobs waiting per queue', labels=['queue'])
        for queue, n in jobs.queue_lengths().items():
            waiting.add_metric([queue], n)
        yield waiting


registry = CollectorRegistry(auto_describe=True)
registry.register(JobCollector())


@bp.get('/metrics')
def metrics():
    """Prometheus scrape endpoint."""
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
