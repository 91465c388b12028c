"""Jinja filters: times as people read them, calls as Python would show them."""
import json
import time
from datetime import datetime

from markupsafe import Markup, escape

from ..monitor.jobs import human_seconds


def clock(ts):
    """12:04:05 today, else 2026-11-20 12:04."""
    if not ts:
        return '—'
    dt = datetime.fromtimestamp(ts)
    if dt.date() == datetime.now().date():
        return dt.strftime('%H:%M:%S')
    return dt.strftime('%Y-%m-%d %H:%M')


def ago(ts):
    """'5 s ago', or 'in 2 min' for a time ahead."""
    if not ts:
        return '—'
    delta = time.time() - ts
    return ('%s ago' % human_seconds(delta)) if delta >= 0 else ('in %s' % human_seconds(-delta))


def seconds(value):
    return human_seconds(value or 0)


def call_text(job, full=False):
    """task arguments as a call: ('a.txt', 3, user_id=7); long ones cut unless full."""
    parts = [json.dumps(a, ensure_ascii=False) for a in job['args'] or []]
    parts += ['%s=%s' % (k, json.dumps(v, ensure_ascii=False)) for k, v in (job['kwargs'] or {}).items()]
    text = '(%s)' % ', '.join(parts)
    return text if full or len(text) <= 70 else text[:69] + '…)'


def sort_time(job, state=None):
    """The time the jobs list sorts this tab by."""
    if state in ('PENDING', 'RETRY'):
        return job['eta']
    if state == 'STARTED':
        return job['started_at']
    if state:
        return job['finished_at']
    return job['queued_at']


def marked(text, spans):
    """A passage with the query's words in <mark>, everything else escaped (spans from search.highlights)."""
    out, last = [], 0
    for start, end in spans or ():
        out += [escape(text[last:start]), Markup('<mark>'), escape(text[start:end]), Markup('</mark>')]
        last = end
    out.append(escape(text[last:]))
    return Markup('').join(out)


now = time.time


def step(meta):
    """A progress step as words: a named step as it is, a number as "step 17" (or "step 3 of 10"
    when the meta says how many there are)."""
    value = meta.get('step') if isinstance(meta, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        total = next((meta[k] for k in ('total', 'steps', 'of') if isinstance(meta.get(k), (int, float))), None)
        return 'step %g of %g' % (value, total) if total else 'step %g' % value
    return '' if value is None else str(value)


def install(web):
    """The filters localq's templates use, prefixed so they never replace a host app's own."""
    web.jinja_env.filters.update(lq_clock=clock, lq_ago=ago, lq_seconds=seconds, lq_call_text=call_text,
                                 lq_sort_time=sort_time, lq_marked=marked, lq_step=step)
