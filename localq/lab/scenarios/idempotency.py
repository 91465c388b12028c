"""Idempotency: a task that is retried runs again, so it must be safe to run twice; get_or_create on
an id the caller chose adds nothing on a retry, a plain insert adds a row each time."""
import time

from ...tasks import app
from ..base import Observation, Scenario, finished
from ..models import LabOrder


def _confirm_payment(task, failures):
    if task.request.retries < failures:
        raise ConnectionError('payment gateway timed out after the order was saved')


@app.task(name='lab.create_order_naive', bind=True, queue='lab', max_retries=3,
          autoretry_for=(ConnectionError,), retry_backoff=0.2, retry_jitter=False)
def create_order_naive(self, user_id, product_id, failures=2):
    """The seeds' non-idempotent version: each retry inserts the order again."""
    LabOrder.create(variant='naive', user_id=user_id, product_id=product_id, created_at=time.time())
    _confirm_payment(self, failures)


@app.task(name='lab.create_order', bind=True, queue='lab', max_retries=3,
          autoretry_for=(ConnectionError,), retry_backoff=0.2, retry_jitter=False)
def create_order(self, order_id, user_id, product_id, failures=2):
    """The seeds' idempotent version: get_or_create on the order id the caller chose."""
    LabOrder.get_or_create(variant='idempotent', order_id=order_id, user_id=user_id, product_id=product_id,
                           defaults={'created_at': time.time()})
    _confirm_payment(self, failures)


class Idempotency(Scenario):
    name = 'idempotency'
    title = 'Idempotency: safe to retry'
    lesson = 'Lesson 13.10, pitfall 4 "No task idempotency"'
    teaches = ('A retried task runs again, so it must be safe to run twice: get_or_create on an id the caller '
               'chose, rather than inserting a new row on every attempt.')
    explain = ('Both versions of the lessons\' create_order save the order, then confirm the payment; the '
               'gateway times out twice, so each task runs three times. The naive version inserts a new row on '
               'every attempt. The idempotent one uses get_or_create on the order id the caller chose, so '
               'the retries find the row and add nothing.')
    code = ('# naive\nOrder.create(user_id=user_id, product_id=product_id)\n\n# idempotent\n'
            'Order.get_or_create(id=order_id, user_id=user_id, product_id=product_id)')
    params = {'failures': 2}

    def start(self, ctx):
        self.one_worker(ctx)
        f = ctx.params['failures']
        ctx.enqueue('lab.create_order_naive', 'user-42', 'book-7', failures=f)
        ctx.enqueue('lab.create_order', 'order-1001', 'user-42', 'book-7', failures=f)

    def observe(self, ctx):
        jobs, attempts = ctx.jobs(), ctx.attempts()
        rows = {v: list(LabOrder.select().where(LabOrder.variant == v).order_by(LabOrder.id))
                for v in ('naive', 'idempotent')}
        data = {'naive_rows': len(rows['naive']), 'idempotent_rows': len(rows['idempotent']),
                'attempts': {('naive' if j['task'].endswith('naive') else 'idempotent'):
                             len(attempts.get(j['id'], [])) for j in jobs}}
        lines = ['Attempts: %s. Order rows: naive %d, idempotent %d.' % (
            ', '.join('%s %d' % kv for kv in sorted(data['attempts'].items(), reverse=True)) or 'none yet',
            data['naive_rows'], data['idempotent_rows'])]
        t0 = ctx.run.started_at
        tables = [('%s: %d row%s' % (v, len(r), '' if len(r) == 1 else 's'), ['row id', 'order_id', 'user', 'product',
                                                                              'created'],
                   [[o.id, o.order_id or '(none)', o.user_id, o.product_id, '+%.2f s' % (o.created_at - t0)]
                    for o in r]) for v, r in rows.items()]
        return Observation(len(jobs) == 2 and finished(jobs), data, lines, tables=tables)

    def clear(self, lab):
        LabOrder.delete().execute()
