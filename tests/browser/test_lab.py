"""Lab scenarios end to end in Chromium, against `python run.py`: a teacher's clicks, and what the
pictures show once a run has ended.

Screenshots: test-artifacts/screenshots/lab-*.png (look at them)."""
import re

import pytest

from tests.browser.conftest import shot


@pytest.fixture(scope='module', autouse=True)
def class_speed():
    """The server runs at LOCALQ_LAB_SPEED=10, as the lab suggests for class: a 100/m rate limit.
    Autouse and module-scoped, so it is set before the module's server starts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('LOCALQ_LAB_SPEED', '10')
        yield


def open_scenario(page, server, title):
    page.goto(server + '/lab')
    assert page.locator('[data-scenario]').count() == 14
    with page.expect_navigation():
        page.locator('.lab-card', has_text=title).click()


def run(page, **params):
    for name, value in params.items():
        page.fill('input[name=%s]' % name, str(value))
    with page.expect_navigation():
        page.click('button[data-action=run]')


def wait_done(page, timeout=60000):
    page.locator('.lab-result[data-done=yes]').wait_for(timeout=timeout)


def wait_settled(page, timeout=90000):
    """Done, and its workers stopped: only then does the page stop refreshing (live.js)."""
    page.locator('.lab-result [data-final]').wait_for(state='attached', timeout=timeout)


def worker_statuses(page):
    return page.locator('tr[data-worker]').evaluate_all('rows => rows.map(r => r.dataset.status)')


def smallest_label_px(page, selector='svg.chart text, svg.timeline text'):
    """The smallest chart label as drawn on the screen, in CSS pixels: its font size times the
    SVG's scale (a 600-wide viewBox in a 460 px card draws an 11 px label at 8 px)."""
    return page.locator(selector).evaluate_all(
        'ts => Math.min(...ts.map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))')


def shots(page, name):
    """Screenshots at a projector's 1024 px and a laptop's 1280 px."""
    for width in (1024, 1280):
        page.set_viewport_size({'width': width, 'height': 860})
        shot(page, '%s-%d' % (name, width))


def strokes(page, selector):
    """[(series, drawn colour, drawn width)] of the chart lines the selector finds, in page order."""
    return page.locator(selector).evaluate_all(
        'els => els.map(e => [e.dataset.series, getComputedStyle(e).stroke, '
        'parseFloat(getComputedStyle(e).strokeWidth)])')


def test_idempotency_run_shows_duplicate_rows_beside_one_row(server, page):
    open_scenario(page, server, 'Idempotency')
    assert 'Not run yet' in page.locator('[data-live]').inner_text()
    run(page)
    wait_done(page)
    tables = page.locator('.lab-result h3')
    assert tables.all_inner_texts() == ['naive: 3 rows', 'idempotent: 1 row']
    assert 'Order rows: naive 3, idempotent 1' in page.locator('.lab-result').inner_text()
    # The timeline drew every attempt: two failed-and-retried, then a success, per job.
    outcomes = page.locator('.timeline rect').evaluate_all('els => els.map(e => e.dataset.outcome)')
    assert sorted(outcomes) == ['RETRY'] * 4 + ['SUCCESS'] * 2
    shot(page, 'lab-idempotency')


def test_retry_lanes_differ_waits_stay_and_the_axes_stop_at_the_runs_end(server, page):
    open_scenario(page, server, 'Retry with backoff')
    run(page, failures=2)
    wait_settled(page)
    result = page.locator('.lab-result').inner_text()
    assert 'All 3 jobs succeeded on attempt 3, after 2 refused connections each.' in result
    assert re.search(r'#1 waited \d\.\d\d s, \d\.\d\d s; #2 waited', result), result
    # Item 20: a lane per job, told apart; after "done" each keeps its waits (first run, two retries).
    assert page.locator('.timeline .lane-label').all_text_contents() == [
        '#%d flaky_api(failures=2)' % n for n in (1, 2, 3)]
    for lane in page.locator('.timeline g.lane').all():
        waits = lane.locator('line.wait').evaluate_all('ls => ls.map(l => l.x2.baseVal.value - l.x1.baseVal.value)')
        assert len(waits) == 3 and min(waits[1:]) > 40, waits   # a retry waits 0.5 s or more: plain to see
    # Item 17: the axes end where the run ended, and still do when the page is loaded later.
    ended = page.locator('.lab-result').get_attribute('data-ended')
    assert page.locator('svg.timeline').get_attribute('data-end') == ended
    assert page.locator('svg.chart').evaluate_all('cs => cs.map(c => c.dataset.maxX)') == [ended]
    assert set(worker_statuses(page)) == {'stopped'}   # stopped after "done", and the page shows it
    page.reload()
    assert page.locator('.lab-result').get_attribute('data-ended') == ended
    assert page.locator('svg.timeline').get_attribute('data-end') == ended
    last = page.locator('svg.timeline rect').evaluate_all(
        'rs => Math.max(...rs.map(r => r.x.baseVal.value + r.width.baseVal.value))')
    assert last >= float(page.locator('svg.timeline').get_attribute('data-end-x'))   # it reaches the right edge
    shot(page, 'lab-retry')


def test_rate_limit_shows_starts_over_the_limit_says_why_calls_swap_and_workers_stop(server, page):
    open_scenario(page, server, 'Rate limit across workers')
    # The server started at speed 10; the teacher sets 30 on the page, no restart.
    assert page.input_value('input[name=speed]') == '10'
    run(page, calls=12, speed=30)
    assert page.input_value('input[name=speed]') == '30'
    wait_settled(page)
    result = page.locator('.lab-result').inner_text()
    assert 'Limit 10 calls per 2 s' in result and '12 of 12 calls done' in result
    assert "A rate limit keeps the pace, not the queue's order." in result   # the order, explained
    # Item 19: the limit is a wide pale band and the starts a line drawn over it: both visible.
    (band, band_colour, band_width), (started, started_colour, started_width) = strokes(
        page, 'svg.chart polyline[data-series="limit (slots)"], svg.chart polyline[data-series=started]')
    assert (band, started) == ('limit (slots)', 'started')   # in page order: the band first, so under
    assert band_width >= 4 * started_width and band_colour != started_colour
    assert page.get_by_text('How late each call started after its slot').is_visible()
    assert set(worker_statuses(page)) == {'stopped'}
    page.set_viewport_size({'width': 1024, 'height': 860})
    assert smallest_label_px(page) >= 12
    shots(page, 'lab-rate-limit')


def test_scaling_keeps_a_colour_per_series_and_gives_workers_their_own_axis(server, page):
    open_scenario(page, server, 'Scaling workers')
    run(page, jobs=160, per_worker=40)
    with page.expect_navigation():
        page.click('button[data-action=autoscale-on]')
    wait_settled(page)
    lines = strokes(page, 'svg.chart polyline')
    colours = {}
    for name, colour, _ in lines:
        colours.setdefault(name, set()).add(colour)
    assert set(colours) == {'waiting', 'finished/s', 'workers'}
    assert [name for name, _, _ in lines].count('finished/s') == 2      # drawn in both charts...
    assert all(len(c) == 1 for c in colours.values()), colours           # ... in one colour
    assert len({c.pop() for c in colours.values()}) == 3                  # and each series its own
    text = page.locator('[data-live]').inner_text()
    assert 'x10' not in text and 'workers (right axis)' in text
    assert re.search(r'\d workers?: [\d.]+/s \(of \d+\)', text) and 'at most 20×n a second' in text
    assert 'CPU core' in text   # why adding workers stops helping at some point
    shot(page, 'lab-scaling')


def test_crash_kill_a_worker_from_the_page_and_watch_the_rescue_then_reset(server, page):
    open_scenario(page, server, 'Crash survival')
    page.fill('input[name=seconds]', '4')
    with page.expect_navigation():
        page.click('button[data-action=run]')
    page.get_by_text('Press "Kill worker 1"').wait_for(timeout=30000)
    page.reload()   # the action buttons are enabled once the run exists
    with page.expect_navigation():
        page.click('button[data-action=kill]')
    assert re.search(r'Sent SIGKILL to lab-crash-1 \(pid \d+\)', page.locator('.flash').inner_text())
    wait_done(page)
    rows = page.locator('.lab-result table tbody tr').all_inner_texts()
    assert re.search(r'acks_late\s+SUCCESS\s+LOST on lab-crash-1 → SUCCESS on lab-crash-2', rows[0]), rows
    assert re.search(r'plain\s+FAILURE\s+LOST on lab-crash-1\s+worker lost', rows[1]), rows
    assert page.locator('tr[data-worker=lab-crash-1]').get_attribute('data-status') == 'killed (SIGKILL)'
    assert page.locator('tr[data-worker=lab-crash-2]').get_attribute('data-status') in ('running', 'stopped')
    # Item 22: a lost bar is solid up to the kill, then hatched while nobody knew (the 3 s lease).
    kill = page.locator('.timeline line.mark').evaluate('l => l.x1.baseVal.value')
    lost = page.locator('.timeline rect[data-outcome=LOST]').evaluate_all(
        'rs => rs.map(r => [r.x.baseVal.value, r.width.baseVal.value])')
    unheard = page.locator('.timeline rect[data-outcome=UNHEARD]').evaluate_all(
        'rs => rs.map(r => [r.x.baseVal.value, r.width.baseVal.value, getComputedStyle(r).fill])')
    assert len(lost) == len(unheard) == 2
    assert all(abs(x + w - kill) <= 0.2 for x, w in lost), (lost, kill)
    assert all(abs(x - kill) <= 0.2 and w > 50 and 'url(' in fill for x, w, fill in unheard), unheard
    assert 'lease ran out' in page.locator('.timeline + .legend').inner_text()
    # Projector: the run is over, so the kill button is off; every label readable at 1024 px.
    page.reload()
    assert page.locator('button[data-action=kill]').is_disabled()
    page.set_viewport_size({'width': 1024, 'height': 860})
    assert smallest_label_px(page) >= 12
    shots(page, 'lab-crash')
    page.set_viewport_size({'width': 1280, 'height': 860})
    # ... and every axis says its unit.
    assert page.locator('.timeline .axis-title').text_content() == 'time since the run started'
    assert page.locator('.timeline text').first.text_content() == '0 s'
    for chart in page.locator('svg.chart').all():
        assert chart.locator('.x-unit').text_content() == 'seconds since the run started'
        assert chart.locator('.y-unit').text_content() == 'jobs'
    shot(page, 'lab-crash')

    page.on('dialog', lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click('button[data-action=reset]')
    assert 'The lab is clean' in page.locator('.flash').inner_text()
    assert 'Not run yet' in page.locator('[data-live]').inner_text()
    page.goto(server + '/lab')
    assert page.locator('.lab-card .pill').all_inner_texts() == ['not run'] * 14
    shot(page, 'lab-index')
