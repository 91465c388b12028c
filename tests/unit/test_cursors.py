"""Page links of the job lists (monitor/listing.py) on their own: a cursor is the sort key of a
page's last row; whatever a person or a script puts in the URL, it is either that or a clear 400."""
import base64
import json

import pytest

from localq import states
from localq.monitor.listing import MAX_CURSOR, ORDERS, RUNNING, BadFilter, JobFilter, decode_cursor, encode_cursor


@pytest.mark.parametrize('tab', list(ORDERS))
def test_a_cursor_round_trips_for_every_tabs_sort_key(tab):
    order = ORDERS[tab]
    key = [1733390000.25 if not field.name == 'id' else 'f0e1d2c3-0000' for field, _ in order]
    if order[0][0].name == 'priority':
        key[0] = 5
    assert decode_cursor(encode_cursor(key), order) == key


def raw(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip('=')


@pytest.mark.parametrize('text, says', [
    ('not base64 at all!', 'damaged'),
    (raw({'a': 1}), 'does not fit'),
    (raw([1.0]), 'does not fit'),                         # one value for a two-column key
    (raw(['newest', 'id']), 'damaged'),                   # text where a time belongs
    (base64.urlsafe_b64encode(b'[1e400, "id"]').decode(), 'damaged'),   # JSON's 1e400 reads as infinity
    (raw([True, 'id']), 'damaged'),                       # a boolean is no time
    (raw([1.0, 'x' * 201]), 'damaged'),                   # an id no job has
    ('A' * (MAX_CURSOR + 1), 'damaged'),
])
def test_a_damaged_or_foreign_cursor_is_a_clear_error_not_sql(text, says):
    with pytest.raises(BadFilter, match=says):
        decode_cursor(text, ORDERS[states.SUCCESS])


def test_a_cursor_of_one_tab_does_not_fit_another():
    pending = encode_cursor([0, 1733390000.0, 'f0e1'])   # priority, eta, id
    with pytest.raises(BadFilter):
        decode_cursor(pending, ORDERS[states.SUCCESS])


# -- filters from the query string ---------------------------------------------------------------

@pytest.mark.parametrize('args, expected', [
    ({}, JobFilter()),
    ({'state': '', 'task': '  ', 'queue': None, 'q': ''}, JobFilter()),          # blanks mean "any"
    ({'state': 'SUCCESS', 'task': ' reports.build ', 'queue': 'low', 'q': 'ada'},
     JobFilter('SUCCESS', 'reports.build', 'low', 'ada')),
    ({'taskname': 'reports.build'}, JobFilter(task='reports.build')),            # Flower's name
    ({'task': 'a', 'taskname': 'b'}, JobFilter(task='a')),
    ({'state': 'PROCESSING'}, JobFilter(state=RUNNING)),                         # a custom state: the running tab
    ({'state': 'STARTED'}, JobFilter(state=RUNNING)),
    ({'state': 'WAITING'}, JobFilter(state='WAITING')),
    ({'cursor': 'x', 'limit': '10', 'partial': '1'}, JobFilter()),                 # paging, not filtering
])
def test_a_filter_is_read_from_the_query_string(args, expected):
    assert JobFilter.from_args(args, running_states=['PROCESSING']) == expected


@pytest.mark.parametrize('args, says', [
    ({'stat': 'SUCCESS'}, 'unknown parameter\\(s\\) stat; allowed: state, task, taskname, queue, q, group, cursor'),
    ({'state': 'DONE'}, "unknown state 'DONE'; states: WAITING, PENDING, STARTED, RETRY, SUCCESS, FAILURE, "
                        'REVOKED, PROCESSING$'),
    ({'state': 'success'}, "unknown state 'success'"),
    ({'q': 'x' * 201}, 'q is longer than 200 characters'),
    ({'task': 't' * 201}, 'task is longer than 200 characters'),
])
def test_a_filter_that_cannot_be_applied_is_a_clear_error(args, says):
    with pytest.raises(BadFilter, match=says):
        JobFilter.from_args(args, running_states=['PROCESSING'])


def test_a_custom_state_no_job_reports_is_unknown():
    with pytest.raises(BadFilter, match="unknown state 'PROCESSING'"):
        JobFilter.from_args({'state': 'PROCESSING'})


@pytest.mark.parametrize('job_filter', [
    JobFilter(), JobFilter('SUCCESS'), JobFilter(task='t', queue='q'), JobFilter('PENDING', 't', 'q', 'text'),
])
def test_a_filters_link_reproduces_it(job_filter):
    assert JobFilter.from_args(job_filter.as_args()) == job_filter
    assert job_filter.is_empty() == (job_filter == JobFilter())


# -- paging real rows --------------------------------------------------------------------------------

@pytest.fixture
def jobs(app):
    """24 jobs with ties in every sort key but the id: 3 priorities, 4 times, finished in every state."""
    from localq.models import Job
    rows = []
    for i in range(24):
        t = 1_790_000_000.0 + (i % 4)
        rows.append(dict(id='job-%02d' % ((i * 7) % 24), task='t.%d' % (i % 2), message='{}', priority=i % 3,
                         queued_at=t, eta=t, started_at=t, finished_at=t,
                         state=('PENDING', 'SUCCESS', 'STARTED')[i % 3]))
    Job.insert_many(rows).execute()
    return rows


def sort_key(row, order):
    key = []
    for field, desc in order:
        value = row[field.name]
        key.append(tuple(-ord(c) for c in value) if desc and isinstance(value, str) else (-value if desc else value))
    return tuple(key)


@pytest.mark.parametrize('tab', [None, 'PENDING', 'SUCCESS', RUNNING])
@pytest.mark.parametrize('limit', [1, 3, 5, 50])
def test_following_the_cursors_visits_every_row_once_in_the_tabs_order(jobs, tab, limit):
    from localq.monitor.listing import page_jobs
    wanted = JobFilter(state=tab)
    expected = [r['id'] for r in sorted((r for r in jobs if tab is None or r['state'] == tab),
                                        key=lambda r: sort_key(r, ORDERS[tab]))]
    seen, cursor, pages = [], None, 0
    while pages <= len(expected):   # bounded: a cursor that repeats its own row would loop for ever
        page = page_jobs(wanted, cursor, limit=limit)
        assert len(page.rows) <= limit
        seen += [row.id for row in page.rows]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert pages == max(1, -(-len(expected) // limit))   # no empty page at the end


def test_a_filter_by_task_and_queue_pages_only_its_jobs(jobs):
    from localq.monitor.listing import page_jobs
    page = page_jobs(JobFilter(task='t.1'), limit=100)
    assert len(page.rows) == 12 and {r.task for r in page.rows} == {'t.1'} and page.next_cursor is None
    assert page_jobs(JobFilter(queue='nowhere')).rows == []


def test_an_id_prefix_finds_jobs_whatever_case_it_is_typed_in(jobs):
    from localq.models import Job
    from localq.monitor.listing import id_prefix
    assert sorted(j.id for j in Job.select().where(id_prefix('JOB-1'))) == ['job-%02d' % i for i in range(10, 20)]
    assert [j.id for j in Job.select().where(id_prefix('job-09'))] == ['job-09']
    assert Job.select().where(id_prefix('job-3')).count() == 0


def test_bulk_actions_get_every_matching_id_in_batches(jobs):
    from localq.monitor.listing import matching_ids
    batches = list(matching_ids(JobFilter(), ['PENDING', 'SUCCESS'], batch=5))
    ids = [i for batch in batches for i in batch]
    assert all(len(b) <= 5 for b in batches) and ids == sorted(ids)
    assert ids == sorted(r['id'] for r in jobs if r['state'] in ('PENDING', 'SUCCESS'))
