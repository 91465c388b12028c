"""Two lab scenarios end to end in Chromium, against `python run.py`: a teacher's clicks.

Screenshots: test-artifacts/screenshots/lab-*.png (look at them)."""
import re

from tests.browser.conftest import shot


def open_scenario(page, server, title):
    page.goto(server + '/lab')
    assert page.locator('[data-scenario]').count() == 14
    with page.expect_navigation():
        page.locator('.lab-card', has_text=title).click()


def wait_done(page, timeout=60000):
    page.locator('.lab-result[data-done=yes]').wait_for(timeout=timeout)


def test_idempotency_run_shows_duplicate_rows_beside_one_row(server, page):
    open_scenario(page, server, 'Idempotency')
    assert 'Not run yet' in page.locator('[data-live]').inner_text()
    with page.expect_navigation():
        page.click('button[data-action=run]')
    wait_done(page)
    tables = page.locator('.lab-result h3')
    assert tables.all_inner_texts() == ['naive: 3 rows', 'idempotent: 1 row']
    assert 'Order rows: naive 3, idempotent 1' in page.locator('.lab-result').inner_text()
    # The timeline drew every attempt: two failed-and-retried, then a success, per job.
    outcomes = page.locator('.timeline rect').evaluate_all('els => els.map(e => e.dataset.outcome)')
    assert sorted(outcomes) == ['RETRY'] * 4 + ['SUCCESS'] * 2
    shot(page, 'lab-idempotency')


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
    shot(page, 'lab-crash')

    page.on('dialog', lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click('button[data-action=reset]')
    assert 'The lab is clean' in page.locator('.flash').inner_text()
    assert 'Not run yet' in page.locator('[data-live]').inner_text()
    page.goto(server + '/lab')
    assert page.locator('.lab-card .pill').all_inner_texts() == ['not run'] * 14
    shot(page, 'lab-index')
