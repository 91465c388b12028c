"""Uploads through the web app: real files, real worker, the JSON error shape on every bad input."""
import io
import os

import pytest

from localq.documents import Chunk, Document
from localq.models import Attempt, Job
from localq.web import create_app
from localq.worker import LocalqConsumer
from tests.conftest import sqlite_only, wait_for

TEXT = ('Refunds are paid within fourteen days. Shipping is free above fifty euros. '
        'Support answers every message within one working day. ') * 20


@pytest.fixture
def site(tmp_path):
    """localq's own app (with documents.process) on a fresh folder, a worker, and a test client."""
    from localq.tasks import app
    app.configure(data_dir=str(tmp_path / 'data'), max_upload_mb=1)
    web = create_app(app)
    consumer = LocalqConsumer(app, workers=2, name='upload-worker')
    consumer.start_in_thread()
    yield app, web.test_client()
    consumer.shutdown()
    app.close()


def post(client, name, data, headers=None):
    """POST one file as multipart/form-data, body built in memory (as a browser sends it)."""
    body = (b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() +
            b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b'\r\n--BOUNDARY--\r\n')
    return client.post('/upload', data=body, headers=headers or {},
                       content_type='multipart/form-data; boundary=BOUNDARY')


def uploads(app):
    """Stored uploads and anything left in the spool folder."""
    folder = app.config.upload_dir
    names = os.listdir(folder) if os.path.isdir(folder) else []
    spool = os.path.join(folder, '.incoming')
    return [n for n in names if n != '.incoming'] + (os.listdir(spool) if os.path.isdir(spool) else [])


def test_an_upload_is_queued_processed_in_four_steps_and_searchable(site):
    app, client = site
    response = post(client, 'policy.txt', TEXT.encode())
    assert response.status_code == 202
    task_id = response.get_json()['task_id']
    result = app.AsyncResult(task_id).get(timeout=20)
    assert result['chunks'] == Chunk.select().count() > 1 and not result['duplicate']
    status = client.get('/tasks/%s' % task_id).get_json()
    assert status['status'] == 'SUCCESS' and status['result']['document_id'] == result['document_id']
    matches = client.get('/api/documents/search?q=refund+days').get_json()['matches']
    assert matches and 'Refunds' in matches[0]['text']


def test_the_same_file_twice_makes_no_duplicate_and_says_so(site):
    app, client = site
    first = app.AsyncResult(post(client, 'a.md', TEXT.encode()).get_json()['task_id']).get(timeout=20)
    second = app.AsyncResult(post(client, 'copy.md', TEXT.encode()).get_json()['task_id']).get(timeout=20)
    assert second['duplicate'] and second['document_id'] == first['document_id']
    assert 'already stored' in second['message'] and Document.select().count() == 1


def test_uploads_stored_at_the_same_time_all_succeed(site):
    # Two worker threads store documents at once: each store takes the write
    # lock first, or SQLite fails one with "database is locked".
    app, client = site
    ids = [post(client, 'doc%d.txt' % i, (TEXT + ' number %d' % i).encode()).get_json()['task_id'] for i in range(8)]
    results = [app.AsyncResult(i) for i in ids]
    wait_for(lambda: all(r.ready() for r in results), timeout=30, what='8 document jobs')
    assert [r.state for r in results] == ['SUCCESS'] * 8, [Job.get_by_id(i).error_message for i in ids]
    assert Document.select().count() == 8


def test_html_is_reduced_to_its_text(site):
    app, client = site
    page = b'<html><head><style>p{}</style><script>var x</script></head><body><p>Hello localq</p></body></html>'
    task_id = post(client, 'page.html', page).get_json()['task_id']
    app.AsyncResult(task_id).get(timeout=20)
    assert [c.text for c in Chunk.select()] == ['Hello localq']


@pytest.mark.parametrize('name, data, reason', [
    ('empty.txt', b'', 'empty'),
    ('virus.exe', b'MZ...', 'unsupported file type'),
    ('fake.pdf', b'just text', 'not a PDF'),
    ('binary.txt', b'\x00\x01\x02abc', 'binary data'),
    ('big.txt', b'a' * (1024 * 1024 + 1), 'larger than the limit'),
    ('../../etc/passwd.txt', b'root', 'path'),
    ('a\x07bell.txt', b'text', 'control characters'),
])
def test_a_bad_upload_gets_a_clear_400_and_changes_nothing(site, name, data, reason):
    app, client = site
    response = post(client, name, data)
    body = response.get_json()
    status = 413 if name == 'big.txt' else 400   # Payload Too Large, as for an oversized API body
    assert response.status_code == status and body['ok'] is False and body['status'] == status
    assert reason in body['error']
    assert uploads(app) == [] and Job.select().count() == 0


def test_a_large_upload_is_spooled_inside_the_data_folder_not_the_system_temp(site, tmp_path, monkeypatch):
    # Werkzeug spools files above 500 KiB to the system temp folder (often a
    # small tmpfs). localq spools inside its data folder: with no usable
    # system temp folder at all, the upload still works.
    import tempfile
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'no-such-folder'))
    app, client = site
    response = post(client, 'long.txt', TEXT.encode() * 250)  # ~0.8 MB, under the 1 MiB limit
    assert response.status_code == 202, response.get_data(as_text=True)
    app.AsyncResult(response.get_json()['task_id']).get(timeout=20)
    assert len(uploads(app)) == 1  # the stored file; the spool file is gone


def test_a_corrupt_pdf_fails_with_a_readable_reason_and_no_retry(site):
    app, client = site
    task_id = post(client, 'broken.pdf', b'%PDF-1.7\n garbage that is no pdf').get_json()['task_id']
    result = app.AsyncResult(task_id)
    wait_for(lambda: result.ready(), timeout=20, what='the job to end')
    job = Job.get_by_id(task_id)
    assert job.state == 'FAILURE' and 'not a readable PDF' in job.error_message
    assert Attempt.select().where(Attempt.job == task_id).count() == 1


def make_pdf(text=None):
    """A one-page PDF, with a line of Helvetica text if given (pypdf only, no other tool)."""
    import pypdf
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
    writer = pypdf.PdfWriter()
    page = writer.add_blank_page(width=400, height=200)
    if text:
        font = DictionaryObject({NameObject('/Type'): NameObject('/Font'), NameObject('/Subtype'): NameObject('/Type1'),
                                 NameObject('/BaseFont'): NameObject('/Helvetica')})
        page[NameObject('/Resources')] = DictionaryObject(
            {NameObject('/Font'): DictionaryObject({NameObject('/F1'): writer._add_object(font)})})
        content = DecodedStreamObject()
        content.set_data(b'BT /F1 12 Tf 20 100 Td (' + text.encode() + b') Tj ET')
        page[NameObject('/Contents')] = writer._add_object(content)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_the_text_of_a_pdf_is_extracted_and_stored(site):
    app, client = site
    task_id = post(client, 'terms.pdf', make_pdf('Refunds are paid within fourteen days.')).get_json()['task_id']
    assert app.AsyncResult(task_id).get(timeout=20)['chunks'] == 1
    assert [c.text for c in Chunk.select()] == ['Refunds are paid within fourteen days.']


def test_a_pdf_without_text_fails_clearly(site):
    app, client = site
    task_id = post(client, 'blank.pdf', make_pdf()).get_json()['task_id']
    result = app.AsyncResult(task_id)
    wait_for(lambda: result.ready(), timeout=20, what='the job to end')
    assert result.state == 'FAILURE' and 'no text' in Job.get_by_id(task_id).error_message


def test_a_browser_post_without_the_csrf_token_is_refused(site):
    app, client = site
    response = post(client, 'a.txt', b'hello', headers={'Origin': 'http://evil.example'})
    assert response.status_code == 400 and 'CSRF' in response.get_json()['error']
    assert Job.select().count() == 0
    page = client.get('/upload').get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    ok = post(client, 'a.txt', b'hello', headers={'Origin': 'http://localhost', 'X-CSRF-Token': token})
    assert ok.status_code == 202


@pytest.mark.parametrize('method, path, status', [
    ('get', '/api/task/info/nope', 404), ('get', '/api/nothing-here', 404), ('put', '/upload', 405),
    ('get', '/api/documents/search', 400), ('post', '/upload', 400)])
def test_every_api_error_has_one_json_shape(site, method, path, status):
    _, client = site
    response = getattr(client, method)(path)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {'ok', 'error', 'status'} and body['ok'] is False and body['status'] == status


def test_a_deleted_documents_id_is_never_given_to_a_new_upload(site):
    # A finished job's result names its document by id: after a delete, a new upload taking the
    # same id would make that old result point at the wrong file.
    app, client = site
    first = app.AsyncResult(post(client, 'a.txt', TEXT.encode()).get_json()['task_id']).get(timeout=20)
    newest = app.AsyncResult(post(client, 'b.txt', (TEXT + ' b').encode()).get_json()['task_id']).get(timeout=20)
    last_chunk = Chunk.select().order_by(Chunk.id.desc()).first().id
    assert client.delete('/api/documents/%d' % newest['document_id']).status_code == 200
    again = app.AsyncResult(post(client, 'c.txt', (TEXT + ' c').encode()).get_json()['task_id']).get(timeout=20)
    assert again['document_id'] > newest['document_id'] > first['document_id']
    assert min(c.id for c in Chunk.select().where(Chunk.document == again['document_id'])) > last_chunk
    assert client.get('/api/documents/%d' % newest['document_id']).status_code == 404


def test_the_job_and_the_document_it_stored_link_to_each_other(site):
    app, client = site
    task_id = post(client, 'policy.txt', TEXT.encode()).get_json()['task_id']
    document_id = app.AsyncResult(task_id).get(timeout=20)['document_id']
    job_page = client.get('/jobs/%s' % task_id).get_data(as_text=True)
    assert 'href="/documents/%d"' % document_id in job_page
    document_page = client.get('/documents/%d' % document_id).get_data(as_text=True)
    assert 'href="/jobs/%s"' % task_id in document_page


def test_the_api_gives_a_documents_passages_under_the_name_the_readme_uses(site):
    app, client = site
    document_id = app.AsyncResult(post(client, 'policy.txt', TEXT.encode()).get_json()['task_id']).get(
        timeout=20)['document_id']
    body = client.get('/api/documents/%d' % document_id).get_json()
    assert [p['number'] for p in body['passages']] == list(range(body['chunks']))
    assert 'Refunds are paid' in body['passages'][0]['text']


@sqlite_only
def test_an_older_folder_keeps_its_documents_and_stops_reusing_ids(tmp_path):
    # Before AUTOINCREMENT: the tables as an earlier version made them, with two documents.
    import sqlite3
    folder = tmp_path / 'data'
    folder.mkdir()
    con = sqlite3.connect(folder / 'localq.db')
    con.executescript('''
        CREATE TABLE "document" ("id" INTEGER NOT NULL PRIMARY KEY, "content_hash" VARCHAR(64) NOT NULL,
          "filename" VARCHAR(255) NOT NULL, "stored_name" VARCHAR(100), "kind" VARCHAR(10) NOT NULL,
          "user_id" VARCHAR(100) NOT NULL, "characters" INTEGER NOT NULL, "pages" INTEGER, "chunks" INTEGER NOT NULL,
          "embedder" VARCHAR(100), "job_id" VARCHAR(64), "created_at" REAL NOT NULL);
        CREATE UNIQUE INDEX "document_content_hash" ON "document" ("content_hash");
        CREATE TABLE "doc_chunk" ("id" INTEGER NOT NULL PRIMARY KEY, "document_id" INTEGER NOT NULL,
          "number" INTEGER NOT NULL, "text" TEXT NOT NULL, "start" INTEGER NOT NULL, "page" INTEGER, "vector" BLOB,
          FOREIGN KEY ("document_id") REFERENCES "document" ("id") ON DELETE CASCADE);
        CREATE UNIQUE INDEX "chunk_document_id_number" ON "doc_chunk" ("document_id", "number");
        INSERT INTO document VALUES (1, 'h1', 'one.txt', NULL, 'text', '', 5, NULL, 1, NULL, NULL, 1.0),
                                    (2, 'h2', 'two.txt', NULL, 'text', '', 5, NULL, 1, NULL, NULL, 2.0);
        INSERT INTO doc_chunk VALUES (1, 1, 0, 'first', 0, NULL, NULL), (2, 2, 0, 'second', 0, NULL, NULL);
    ''')
    con.commit()
    con.close()
    from localq.tasks import app
    app.configure(data_dir=str(folder))
    try:
        web = create_app(app).test_client()
        assert [d['filename'] for d in web.get('/api/documents').get_json()['documents']] == ['two.txt', 'one.txt']
        assert web.get('/api/documents/2').get_json()['passages'][0]['text'] == 'second'
        assert web.delete('/api/documents/2').status_code == 200
        with app.write_transaction():
            again = Document.create(content_hash='h3', filename='three.txt', kind='text', characters=5, created_at=3.0)
        assert again.id == 3 and Chunk.select().count() == 1
    finally:
        app.close()


def test_the_latest_uploads_are_listed_with_their_outcome_for_the_page_to_show_again(site):
    app, client = site
    good = post(client, 'policy.txt', TEXT.encode()).get_json()['task_id']
    bad = post(client, 'broken.pdf', b'%PDF-1.7\n not a pdf').get_json()['task_id']
    for task_id in (good, bad):
        wait_for(lambda: app.AsyncResult(task_id).ready(), timeout=20, what='the job to end')
    uploads = client.get('/api/documents/uploads').get_json()['uploads']
    assert [(u['task_id'], u['filename'], u['status']) for u in uploads] == [
        (bad, 'broken.pdf', 'FAILURE'), (good, 'policy.txt', 'SUCCESS')]
    assert 'not a readable PDF' in uploads[0]['error'] and uploads[1]['result']['message'].startswith('stored')


def test_a_file_that_is_not_what_it_claims_offers_no_retry(site):
    # Retrying reads the same broken file again: the page says so instead of offering it.
    app, client = site
    task_id = post(client, 'broken.pdf', b'%PDF-1.7\n garbage that is no pdf').get_json()['task_id']
    wait_for(lambda: app.AsyncResult(task_id).ready(), timeout=20, what='the job to end')
    page = client.get('/jobs/%s' % task_id).get_data(as_text=True)
    assert 'InvalidDocument' in page and 'data-action="retry"' not in page and 'Retrying cannot fix this' in page


def test_a_duplicate_is_found_before_it_is_extracted_or_embedded(site):
    import json
    app, client = site
    app.AsyncResult(post(client, 'a.md', TEXT.encode()).get_json()['task_id']).get(timeout=20)
    second = post(client, 'copy.md', TEXT.encode()).get_json()['task_id']
    assert app.AsyncResult(second).get(timeout=20)['duplicate']
    assert json.loads(Job.get_by_id(second).meta)['step'] == 'checking'   # its last step: no extracting, embedding


def test_embedding_reports_progress_batch_by_batch(app):
    # The task's own context is the edge here: a stand-in records each update_state.
    import types

    from localq import documents
    from localq.documents.pipeline import EMBED_BATCH
    documents.init_app(app)
    os.makedirs(app.config.upload_dir, exist_ok=True)
    with open(os.path.join(app.config.upload_dir, 'book.txt'), 'w') as fh:
        fh.write(' '.join('Sentence number %d of a long book says something new.' % i for i in range(12000)))
    reports = []
    context = types.SimpleNamespace(app=app, request=types.SimpleNamespace(id='job-1'),
                                    update_state=lambda state, meta: reports.append(meta))
    result = documents.process_document(context, 'book.txt', 'book.txt')
    embedding = [m for m in reports if m['step'] == 'embedding']
    assert result['chunks'] > EMBED_BATCH and len(embedding) == -(-result['chunks'] // EMBED_BATCH)
    progress = [m['progress'] for m in reports]
    assert progress == sorted(progress) and embedding[-1]['progress'] > embedding[0]['progress']
