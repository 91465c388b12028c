"""Document search with the real model, on real documents: paraphrases, identifiers, questions
nothing answers, limit, delete, the extractors, the pages and the API."""
import os
import re
import shutil
import uuid

import pytest

from localq import documents
from localq.documents import BadQuery, Chunk, Document
from localq.documents.models import ChunkToken
from localq.web import create_app
from tests.conftest import ROOT, sqlite_only

CORPUS = os.path.join(ROOT, 'bench', 'corpus')
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')


@pytest.fixture
def docs(app, worker):
    """The sample app with the document pipeline, and a way to store files through its real task."""
    documents.init_app(app)

    def ingest(*paths):
        results = []
        for path in paths:
            os.makedirs(app.config.upload_dir, exist_ok=True)
            stored = uuid.uuid4().hex + os.path.splitext(path)[1]
            shutil.copy(path, os.path.join(app.config.upload_dir, stored))
            results.append(app.tasks[documents.TASK].delay(stored, os.path.basename(path)).get(timeout=60))
        return results
    return ingest


def corpus(name):
    return os.path.join(CORPUS, name)


def answers(hits, doc, passage):
    return bool(hits) and hits[0]['document'] == doc and any(passage in ' '.join(h['text'].split()) for h in hits[:3])


def test_a_paraphrased_question_finds_the_passage_that_answers_it(app, docs):
    docs(corpus('bzip2-manual.pdf'), corpus('postgresql-routine-vacuuming.html'))
    hits = documents.search(app, 'Is it safe to call the compression library from several threads at once?')
    assert answers(hits, 'bzip2-manual.pdf', 'thread-safe')


def test_an_exact_identifier_finds_its_passage_and_is_highlighted(app, docs):
    docs(corpus('postgresql-routine-vacuuming.html'), corpus('python-regex-howto.txt'))
    hits = documents.search(app, 'What does autovacuum_naptime control?')
    assert answers(hits, 'postgresql-routine-vacuuming.html', 'autovacuum_naptime')
    first = hits[0]
    assert 'autovacuum_naptime' in [first['text'][s:e] for s, e in first['highlights']]


def test_a_question_nothing_answers_gets_no_hits(app, docs):
    docs(corpus('postgresql-routine-vacuuming.html'), corpus('commander-readme.md'))
    assert documents.search(app, 'zzqx flurbo') == []
    assert documents.search(app, 'How do I configure Redis Sentinel failover?') == []
    assert documents.search(app, 'What is a good hydration ratio for sourdough bread?') == []


def test_limit_is_honoured_and_bad_queries_are_refused(app, docs):
    docs(corpus('python-regex-howto.txt'))
    assert 1 <= len(documents.search(app, 'regular expression groups', limit=2)) <= 2
    assert len(documents.search(app, 'regular expression groups', limit=8)) > 2
    for query, limit, reason in (('', 5, 'give a query'), ('x' * 501, 5, 'longer than 500'),
                                 ('groups', 0, 'limit'), ('groups', 51, 'limit')):
        with pytest.raises(BadQuery, match=reason):
            documents.search(app, query, limit=limit)
    client = create_app(app).test_client()
    assert len(client.get('/api/documents/search?q=capturing+groups&limit=1').get_json()['matches']) == 1
    bad = client.get('/api/documents/search?q=groups&limit=many')
    assert bad.status_code == 400 and 'limit' in bad.get_json()['error']
    assert set(client.get('/api/documents/search').get_json()) == {'ok', 'error', 'status'}   # the one error shape


def test_deleting_a_document_removes_its_rows_vectors_index_entries_and_file(app, docs):
    kept, gone = docs(corpus('commander-readme.md'), corpus('python-regex-howto.txt'))
    doc = Document.get_by_id(gone['document_id'])
    path = os.path.join(app.config.upload_dir, doc.stored_name)
    assert os.path.exists(path) and documents.search(app, 'non-greedy quantifiers')
    client = create_app(app).test_client()
    assert client.delete('/api/documents/%d' % doc.id).get_json()['deleted']['filename'] == 'python-regex-howto.txt'
    assert not os.path.exists(path)
    assert Chunk.select().where(Chunk.document == doc.id).count() == 0
    assert all(h['document'] == 'commander-readme.md' for h in documents.search(app, 'non-greedy quantifiers'))
    if app.query.is_sqlite:   # no keyword-index entry left behind
        assert app.query.sql("SELECT COUNT(*) FROM doc_chunk_fts WHERE doc_chunk_fts MATCH 'quantifiers'")\
            .fetchone()[0] == 0
    assert client.get('/api/documents/%d' % doc.id).status_code == 404
    assert Document.get_by_id(kept['document_id']).chunks > 0


def test_the_extractors_read_real_pdf_html_and_docx_files(app, docs):
    pdf, html, docx = docs(corpus('bzip2-manual.pdf'), corpus('postgresql-routine-vacuuming.html'),
                           os.path.join(FIXTURES, 'blk-paras-and-tables.docx'))
    # PDF: every page read, ligatures turned into letters, each passage knows its page
    assert pdf['pages'] == 38
    text = ' '.join(c.text for c in Chunk.select().where(Chunk.document == pdf['document_id']))
    assert 'ﬁ' not in text and 'files' in text
    hit = documents.search(app, 'What does BZ_DATA_ERROR_MAGIC mean?')[0]
    assert hit['document'] == 'bzip2-manual.pdf' and 1 <= hit['page'] <= 38
    # HTML: the page's content without its navigation header and footer
    first = Chunk.get((Chunk.document == html['document_id']) & (Chunk.number == 0)).text
    assert first.startswith('25.1. Routine Vacuuming') and not re.search(r'\b(Prev|Home)\b', first)
    # .docx: paragraphs and table cells, in order
    words = [c.text for c in Chunk.select().where(Chunk.document == docx['document_id'])]
    assert words == ['Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n\nText before\n\nTable\n\nBetween\n\n'
                     'Text after\n\nDonec semper facilisis metus finibus malesuada.']


def test_people_see_documents_hits_with_marks_and_can_download_the_original(app, docs):
    (stored,) = docs(corpus('commander-readme.md'))
    client = create_app(app).test_client()
    listing = client.get('/documents').get_data(as_text=True)
    assert 'commander-readme.md' in listing and 'data-document="%d"' % stored['document_id'] in listing
    results = client.get('/documents?q=What+does+.requiredOption()+do%3F').get_data(as_text=True)
    assert '<mark>requiredOption</mark>' in results
    assert 'href="/documents/%d#chunk-' % stored['document_id'] in results
    page = client.get('/documents/%d' % stored['document_id']).get_data(as_text=True)
    job_id = Document.get_by_id(stored['document_id']).job_id
    assert 'id="chunk-0"' in page and 'Download the original' in page and 'href="/jobs/%s"' % job_id in page
    with client.get('/documents/%d/file' % stored['document_id']) as download:
        assert download.status_code == 200 and 'commander-readme.md' in download.headers['Content-Disposition']
        with open(corpus('commander-readme.md'), 'rb') as original:
            assert download.get_data() == original.read()
    nothing = client.get('/documents?q=zzqx+flurbo').get_data(as_text=True)
    assert 'data-no-hits' in nothing


@sqlite_only
def test_documents_stored_by_an_older_version_are_kept_and_searchable(tmp_path):
    import sqlite3

    from localq import LocalQ
    # Given a data folder from before: a document whose passages sit in the old chunk table (JSON vectors)
    data = tmp_path / 'old'
    data.mkdir()
    old = sqlite3.connect(str(data / 'localq.db'))
    old.executescript('''
        CREATE TABLE document (id INTEGER PRIMARY KEY, content_hash VARCHAR(64) UNIQUE, filename VARCHAR(255),
            kind VARCHAR(10), user_id VARCHAR(100), characters INTEGER, created_at REAL);
        CREATE TABLE chunk (id INTEGER PRIMARY KEY, document_id INTEGER REFERENCES document (id),
            number INTEGER, text TEXT, embedding TEXT);
        INSERT INTO document VALUES (1, 'abc', 'policy.txt', 'text', '', 120, 0);
        INSERT INTO chunk VALUES (1, 1, 0, 'Refunds are paid within fourteen days of the return.', '[0.1, 0.2]');
        INSERT INTO chunk VALUES (2, 1, 1, 'Shipping is free for orders above fifty euros.', '[0.3, 0.4]');''')
    old.commit()
    old.close()
    # When this version opens it
    app = LocalQ('upgraded', data_dir=str(data))
    documents.init_app(app)
    try:
        # Then the passages moved over, are embedded by the current model, and answer questions
        hits = documents.search(app, 'When do I get my money back?')
        assert hits and hits[0]['text'].startswith('Refunds are paid')
        assert Document.get_by_id(1).embedder.startswith('wordllama') and Document.get_by_id(1).chunks == 2
        assert 'chunk' not in app.database.get_tables()
    finally:
        app.close()


def test_options_identifiers_and_error_codes_are_found_as_written(app, docs, tmp_path):
    tar, py = tmp_path / 'tar-options.txt', tmp_path / 'python-notes.txt'
    tar.write_text('Options.\n\n-k, --keep-old-files\n    Do not replace existing files when extracting.\n\n'
                   '-z, --gzip\n    Filter the archive through gzip.\n\nA kayak is a small boat.')
    py.write_text('To build paths, call os.path.join() with each part. '
                  'The server failed with EADDRINUSE when the port was taken.')
    docs(str(tar), str(py))
    for query, document, written in [('-k', 'tar-options.txt', '-k'), ('tar -z', 'tar-options.txt', '-z'),
                                     ('--gzip', 'tar-options.txt', '--gzip'),
                                     ('os.path.join()', 'python-notes.txt', 'os.path.join'),
                                     ('EADDRINUSE', 'python-notes.txt', 'EADDRINUSE')]:
        hits = documents.search(app, query)
        assert hits and hits[0]['document'] == document, query
        assert written in [hits[0]['text'][s:e] for s, e in hits[0]['highlights']], query
    assert documents.search(app, 'What does -K do?') == []   # options keep their case, as tar's do


def test_a_deleted_documents_tokens_go_with_it(app, docs, tmp_path):
    notes = tmp_path / 'notes.txt'
    notes.write_text('Pass --frobnicate to turn it on.')
    (stored,) = docs(str(notes))
    assert documents.search(app, '--frobnicate')
    documents.delete_document(app, stored['document_id'])
    assert documents.search(app, '--frobnicate') == [] and ChunkToken.select().count() == 0


def test_hits_show_the_section_they_come_from_and_a_section_name_finds_its_passages(app, docs):
    (stored,) = docs(corpus('postgresql-routine-vacuuming.html'))
    hits = documents.search(app, 'Recovering Disk Space')
    assert hits and hits[0]['section'].endswith('25.1.2. Recovering Disk Space')
    page = create_app(app).test_client().get('/documents?q=Recovering+Disk+Space').get_data(as_text=True)
    assert 'data-section>25.1. Routine Vacuuming › 25.1.2. Recovering Disk Space<' in page
    passages = create_app(app).test_client().get('/api/documents/%d' % stored['document_id']).get_json()['passages']
    assert any(p['section'] == '25.1. Routine Vacuuming › 25.1.6. The Autovacuum Daemon' for p in passages)
