"""The pages in a real browser: Debian's Chromium driven by Playwright, against `python run.py`.

Screenshots land in test-artifacts/screenshots/ (look at them: the pages
should look finished).
"""
import re

from tests.browser.conftest import shot

TEXT = ('Refunds are paid within fourteen days of a return. Shipping is free above fifty euros. ') * 30


def test_upload_two_files_watch_both_finish_then_open_a_job(server, page, tmp_path):
    policy, faq = tmp_path / 'policy.txt', tmp_path / 'faq.md'
    policy.write_text(TEXT)
    faq.write_text('# FAQ\n\n' + TEXT.replace('Refunds', 'Returns'))
    page.goto(server + '/upload')
    page.set_input_files('#file', [str(policy), str(faq)])
    ended = page.locator('.file.done, .file.failed')
    ended.nth(1).wait_for(timeout=30000)
    done = page.locator('.file.done')
    assert done.count() == 2, ended.all_inner_texts()
    for row in done.all():
        assert row.locator('.bar > span').get_attribute('style').replace(' ', '') == 'width:100%;'
        assert re.search(r'stored \d+ chunks', row.locator('.status').inner_text())
    shot(page, 'upload-done')
    details = done.first.locator('a', has_text='details').get_attribute('href')
    # The search box on the upload page leads to the documents page, with the words marked
    page.fill('form.search input[name=q]', 'refunds fourteen days')
    with page.expect_navigation():
        page.click('form.search button')
    first = page.locator('ol.hits li').first
    assert 'fourteen' in first.locator('mark').all_inner_texts()
    shot(page, 'documents-search')

    with page.expect_navigation():
        page.goto(page.url.split('/documents')[0] + details)
    assert page.locator('h1 .pill').inner_text() == 'SUCCESS'
    assert page.locator('.timeline li').count() >= 3  # queued, started, succeeded
    assert 'documents.process' in page.locator('h1').inner_text()
    shot(page, 'job-detail-success')
    # The job list leads each document job with the uploaded file's name, not the stored one
    page.goto(server + '/jobs?task=documents.process')
    calls = page.locator('td.args').all_inner_texts()
    assert sorted(c.split(',')[0] for c in calls) == ['(filename="faq.md"', '(filename="policy.txt"'], calls


def test_retry_a_failed_job_from_its_page(server, page):
    page.goto(server + '/upload')
    page.set_input_files('#file', files=[{'name': 'broken.pdf', 'mimeType': 'application/pdf',
                                          'buffer': b'%PDF-1.7\n this is no pdf at all'}])
    failed = page.locator('.file.failed')
    failed.wait_for(timeout=30000)
    assert 'PDF' in failed.locator('.status').inner_text()
    with page.expect_navigation():
        failed.locator('a', has_text='details').click()
    assert page.locator('h1 .pill').inner_text() == 'FAILURE'
    assert page.locator('table.attempts tbody tr').count() == 1
    # Retrying would read the same broken file: the page says so instead of offering it.
    assert page.locator('button[data-action=retry]').count() == 0
    assert 'Upload a corrected file' in page.locator('[data-unfixable]').inner_text()
    shot(page, 'job-detail-failure')

    # An error a retry may fix (here a bad argument, the same every time, but not known to be so;
    # localq.sleep, as the filter test below expects no localq.add job).
    token = page.locator('input[name=csrf_token]').first.get_attribute('value')
    queued = page.request.post(server + '/api/task/async-apply/localq.sleep', data={'args': ['a while']},
                               headers={'X-CSRF-Token': token})
    assert queued.status == 202, queued.text()
    page.goto(server + '/jobs/' + queued.json()['task-id'])
    page.locator('h1 .pill', has_text='FAILURE').wait_for(timeout=30000)
    with page.expect_navigation():
        page.click('button[data-action=retry]')
    assert 'Re-queued.' in page.locator('.flash').inner_text()
    # The page follows the job live until it has failed a second time.
    page.locator('table.attempts tbody tr').nth(1).wait_for(timeout=30000)
    page.locator('h1 .pill', has_text='FAILURE').wait_for()
    # The story tells the queue wait and the wait before the re-run apart, attempt by attempt.
    assert re.search(r'waited [\d.]+ m?s in the queue', page.locator('[data-fact=queue-wait]').inner_text())
    assert 'before attempt 2' in page.locator('[data-fact=retry-waits]').inner_text()
    assert 'in the queue' in page.locator('tr[data-attempt="1"]').inner_text()
    for width in (1024, 1280):
        page.set_viewport_size({'width': width, 'height': 860})
        shot(page, 'job-detail-retried-%d' % width)


def test_filter_the_list_and_pause_live_updates(server, page):
    page.clock.install()
    page.goto(server + '/jobs')
    page.select_option('select[name=task]', 'documents.process')
    with page.expect_navigation():
        page.click('#filters button')
    rows = page.locator('table.jobs tbody tr[data-job]')
    assert rows.count() >= 3 and 'task=documents.process' in page.url
    page.fill('input[name=q]', 'broken.pdf')
    with page.expect_navigation():
        page.press('input[name=q]', 'Enter')
    assert rows.count() == 1 and rows.first.get_attribute('data-state') == 'FAILURE'
    shot(page, 'jobs-filtered')

    # Live updates: paused, no refresh is fetched; resumed, a new job shows up.
    page.goto(server + '/jobs?task=localq.add')
    assert rows.count() == 0
    refreshes = []
    page.on('request', lambda r: refreshes.append(r.url) if 'partial=1' in r.url else None)
    page.click('[data-live-toggle]')
    assert page.get_attribute('[data-live-toggle]', 'aria-pressed') == 'true'
    import json
    import urllib.request
    queued = urllib.request.Request(server + '/api/task/async-apply/localq.add', method='POST',
                                    data=json.dumps({'args': [20, 22]}).encode(),
                                    headers={'Content-Type': 'application/json'})
    job_id = json.load(urllib.request.urlopen(queued, timeout=10))['task-id']
    page.clock.run_for(10000)
    assert refreshes == [] and rows.count() == 0
    page.click('[data-live-toggle]')
    page.clock.run_for(2500)
    page.locator('tr[data-job="%s"][data-state=SUCCESS]' % job_id).wait_for(timeout=10000)
    assert refreshes


def test_overview_shows_counts_chart_queues_and_the_worker(server, page):
    page.goto(server + '/')
    assert int(page.locator('.stat[data-state=SUCCESS] b').inner_text().replace(',', '')) >= 2
    assert int(page.locator('.stat[data-state=FAILURE] b').inner_text()) >= 1
    assert page.locator('svg.chart rect.ok[height]:not([height="0.0"])').count() >= 1
    assert page.locator('tr[data-worker] .dot.on').count() == 1
    with page.expect_navigation():
        page.click('tr[data-queue=low] button')
    assert "Queue 'low' paused" in page.locator('.flash').inner_text()
    assert page.locator('tr[data-queue=low] .pill').inner_text() == 'paused'
    # the Queues table stays inside its card with a paused queue's pill and Resume button, even
    # on a narrow window where the two cards still sit side by side
    for width in (1280, 920):
        page.set_viewport_size({'width': width, 'height': 860})
        table, card = (page.locator(css).bounding_box() for css in ('table.queues', 'section.card:has(table.queues)'))
        assert table['x'] + table['width'] <= card['x'] + card['width'], (width, table, card)
    # and the chart's y-axis label is drawn whole, inside the chart
    label, chart = page.locator('svg.chart text.peak').bounding_box(), page.locator('svg.chart').bounding_box()
    assert label['x'] >= chart['x'] and page.locator('svg.chart text.peak').text_content().endswith('/min')
    shot(page, 'overview')
    # Projector: the chart's labels at 12 px or more on a 1024 px wide screen.
    page.set_viewport_size({'width': 1024, 'height': 860})
    assert page.locator('svg.chart text').evaluate_all(
        'ts => Math.min(...ts.map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))') >= 12
    shot(page, 'overview-1024')
    page.set_viewport_size({'width': 1280, 'height': 860})
    with page.expect_navigation():
        page.click('tr[data-queue=low] button')
    assert page.locator('tr[data-queue=low] .pill').count() == 0
