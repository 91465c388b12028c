"""A live page outlives its server: restarted mid-upload, the page says so, reconnects by itself
and shows the outcome; a reload lists the uploads again (they are in the database)."""
import os
import signal
import subprocess
import sys

from tests.browser.conftest import shot
from tests.conftest import ROOT, free_port


def start_server(port, data, *extra):
    proc = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(data), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()
    assert 'http://127.0.0.1:%d/' % port in line, line
    return proc


def stop_server(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)


def test_an_upload_page_reconnects_after_a_restart_and_shows_success_without_a_reload(page, tmp_path):
    port, data = free_port(), tmp_path / 'data'
    url = 'http://127.0.0.1:%d' % port
    policy = tmp_path / 'policy.txt'
    policy.write_text('Refunds are paid within fourteen days of a return. ' * 40)
    # The first server's worker serves another queue: the upload's job waits for the next one.
    first = start_server(port, data, '-Q', 'elsewhere')
    second = None
    try:
        page.goto(url + '/upload')
        page.set_input_files('#file', str(policy))
        status = page.locator('.file .status')
        page.wait_for_function("document.querySelector('.file .status').textContent.startsWith('pending')")
        job_page = page.context.new_page()   # the dashboard's live region, on the same job
        job_page.goto(url + '/jobs/' + page.locator('.file').get_attribute('data-task'))
        assert job_page.locator('h1 .pill').inner_text() == 'PENDING'
        stop_server(first)
        page.locator('#connection').wait_for(state='visible')
        job_page.locator('#connection').wait_for(state='visible')
        assert status.inner_text() == 'reconnecting…'
        shot(page, 'upload-reconnecting')

        second = start_server(port, data)
        page.locator('.file.done').wait_for(timeout=30000)
        assert 'stored' in status.inner_text() and page.locator('#connection').is_hidden()
        job_page.locator('h1 .pill', has_text='SUCCESS').wait_for(timeout=10000)
        job_page.locator('#connection').wait_for(state='hidden')
        job_page.close()

        page.reload()
        page.locator('.file.done').wait_for(timeout=10000)
        assert page.locator('.file .name').all_inner_texts() == ['policy.txt']
        assert 'stored' in status.inner_text()
    finally:
        stop_server(first)
        if second is not None:
            stop_server(second)
