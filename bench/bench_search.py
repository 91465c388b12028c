"""Document search, measured: answers found on labelled questions over real documents, and
speed at 1k/10k/100k passages beside the search this replaced.

    python bench/bench_search.py                      # quality, then speed (about 4 minutes)
    python bench/bench_search.py --quality            # only the questions
    python bench/bench_search.py --ideas              # ranking ideas: tuned, then held out once
    python bench/bench_search.py --speed --sizes 1000,10000,100000

Quality: bench/retrieval_questions.json (46 questions written for bench/corpus/: paraphrases,
exact identifiers, keyword questions, and questions nothing answers; sources and licences in
bench/corpus/SOURCES.md). A question is answered when the right document comes first and a
passage holding the answer is among the first three; MRR is over the answer passage's rank.
A "none" question is right when the search returns no hit at all. Then
bench/retrieval_questions_html.json (15 questions on bench/html_corpus/, the pages of
bench_extract.py, written after the tuning was fixed) over both corpora together.

Speed: the same passages repeated to N, each search a real query through localq's code (one
query embedding, one matrix product, one FTS5 query, one row read), beside the search before
this change (hashed word counts stored as JSON text, every row decoded in Python per query).
"""
import argparse
import hashlib
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from localq import LocalQ, documents  # noqa: E402
from localq.documents import chunk as chunking  # noqa: E402
from localq.documents.embed import HashingEmbedder, WordLlamaEmbedder  # noqa: E402
from localq.documents.extract import KINDS, extract  # noqa: E402
from localq.documents.pipeline import passage_texts, store_document  # noqa: E402
from localq.documents.search import DEFAULT, UNGATED  # noqa: E402

CORPUS = os.path.join(ROOT, 'bench', 'corpus')
QUESTIONS = os.path.join(ROOT, 'bench', 'retrieval_questions.json')          # tuned on
HELDOUT = os.path.join(ROOT, 'bench', 'retrieval_questions_heldout.json')   # only reported
HTML_CORPUS = os.path.join(ROOT, 'bench', 'html_corpus')                    # bench_extract.py's pages
HTML_HELDOUT = os.path.join(ROOT, 'bench', 'retrieval_questions_html.json')  # written after tuning: reported


def normalise(text):
    return re.sub(r'\s+', ' ', text).strip().lower()


def corpus_files(folder=CORPUS):
    return sorted(f for f in os.listdir(folder) if os.path.splitext(f)[1].lower() in KINDS and f != 'SOURCES.md')


class Index:
    """A throwaway localq app holding the corpus, stored by localq's own pipeline functions."""

    def __init__(self, embedder, size=chunking.CHUNK_SIZE, overlap=chunking.CHUNK_OVERLAP, splitter='localq',
                 folders=(CORPUS,), titled=False):
        self.embedder = embedder
        self.app = LocalQ('bench-search', data_dir=tempfile.mkdtemp(prefix='bench-search-'))
        documents.init_app(self.app)
        self.chunks = 0
        for folder, name in [(f, n) for f in folders for n in corpus_files(f)]:
            path = os.path.join(folder, name)
            extracted = extract(path, KINDS[os.path.splitext(name)[1].lower()])
            if splitter == 'wordllama':
                texts = embedder.split(extracted.text, size)
                pieces, at = [], 0
                for t in texts:
                    start = max(0, extracted.text.find(t[:40], at))
                    pieces.append(chunking.Piece(start, t.strip()))
                    at = start
            else:
                pieces = chunking.split(extracted.text, size, overlap)
            texts = passage_texts(extracted, pieces)
            if titled:   # the document's title (its file name, as words) before each passage's embedded text
                title = re.sub(r'[_\-.]+', ' ', os.path.splitext(name)[0])
                texts = ['%s\n%s' % (title, t) for t in texts]
            vectors = embedder.embed(texts)
            store_document(self.app, hashlib.sha256(name.encode()).hexdigest(), name, None, 'bench', extracted,
                           pieces, vectors, embedder.name)
            self.chunks += len(pieces)

    def search(self, question, tuning, limit=5):
        return documents.search(self.app, question, limit=limit, tuning=tuning, embedder=self.embedder)

    def close(self):
        self.app.close()


def score(index, questions, tuning):
    """{'answered', 'doc@1', 'passage@3', 'mrr', 'none_empty', ...} over the questions."""
    answered = doc1 = passage3 = 0
    rr, none_empty, by_kind = [], 0, {}
    answerable = [q for q in questions if q['doc']]
    for q in questions:
        hits = index.search(q['q'], tuning, limit=10)
        if not q['doc']:
            none_empty += not hits
            continue
        ranks = [i for i, h in enumerate(hits) if normalise(q['answer']) in normalise(h['text'])]
        first_doc = bool(hits) and hits[0]['document'] == q['doc']
        top3 = bool(ranks) and ranks[0] < 3
        doc1 += first_doc
        passage3 += top3
        answered += first_doc and top3
        rr.append(1.0 / (ranks[0] + 1) if ranks else 0.0)
        kind = by_kind.setdefault(q['kind'], [0, 0])
        kind[0] += first_doc and top3
        kind[1] += 1
    n, nones = len(answerable), len(questions) - len(answerable)
    return {'answered': answered / n, 'doc@1': doc1 / n, 'passage@3': passage3 / n, 'mrr': statistics.mean(rr),
            'none_empty': none_empty / nones if nones else 1.0,
            'by_kind': {k: '%d/%d' % tuple(v) for k, v in sorted(by_kind.items())}}


def row(label, m):
    return '%-38s %6.0f%% %6.0f%% %8.0f%% %6.3f %9.0f%%   %s' % (
        label, 100 * m['answered'], 100 * m['doc@1'], 100 * m['passage@3'], m['mrr'], 100 * m['none_empty'],
        ' '.join('%s %s' % kv for kv in m['by_kind'].items()))


HEADER = '%-38s %7s %7s %9s %6s %10s   %s' % ('', 'answer', 'doc@1', 'passage@3', 'MRR', 'none→0', 'answered by kind')


def misses(index, questions, tuning):
    for q in questions:
        hits = index.search(q['q'], tuning)
        if q['doc'] and not (hits and hits[0]['document'] == q['doc']
                             and any(normalise(q['answer']) in normalise(h['text']) for h in hits[:3])):
            print('    missed [%s] %s -> %s' % (q['kind'], q['q'][:70], ', '.join(
                '%s %.2f' % (h['document'][:10], h['similarity']) for h in hits[:3]) or 'no hit'))
        if not q['doc'] and hits:
            print('    answered a no-answer question: %s -> %s' % (q['q'][:60], hits[0]['text'][:50]))


def quality(args):
    dev, heldout = json.load(open(QUESTIONS)), json.load(open(HELDOUT))
    print('Tuning set: %d questions (%d with no answer); held-out set: %d (%d); over %s' % (
        len(dev), sum(not q['doc'] for q in dev), len(heldout), sum(not q['doc'] for q in heldout),
        ', '.join(corpus_files())))
    model = WordLlamaEmbedder(256)
    print('\n1. Embedders and rankings (tuning set), no floor: every search returns hits; passages of %d characters'
          % chunking.CHUNK_SIZE)
    print(HEADER)
    for label, embedder in (('hashing (the fallback)', HashingEmbedder()), ('wordllama 64-d', WordLlamaEmbedder(64)),
                            ('wordllama 128-d', WordLlamaEmbedder(128)), ('wordllama 256-d', model)):
        index = Index(embedder)
        fusions = ('vector',) if embedder is not model else ('vector', 'keyword', 'rrf', 'linear')
        for fusion in fusions:
            print(row('%s, %s' % (label, fusion), score(index, dev, replace(UNGATED, fusion=fusion))))
        index.close()

    print('\n2. Passage size and splitter (tuning set; wordllama 256-d, linear, no floor)')
    print(HEADER)
    for size in args.chunk_sizes:
        index = Index(model, size=size, overlap=min(chunking.CHUNK_OVERLAP, size // 4))
        print(row('localq splitter, %d chars (%d passages)' % (size, index.chunks), score(index, dev, UNGATED)))
        index.close()
    index = Index(model, size=chunking.CHUNK_SIZE, splitter='wordllama')
    print(row("wordllama's splitter, %d (%d passages)" % (chunking.CHUNK_SIZE, index.chunks),
              score(index, dev, UNGATED)))
    index.close()

    print('\n3. The floor (tuning set; wordllama 256-d, linear): the settings that leave every no-answer '
          'question without hits, best first')
    index = Index(model)
    grid = []
    for floor in [x / 100 for x in range(30, 62, 2)]:
        for gate_absent in (0.5, 0.75, 1.0, 1.25, 1.5):
            for gate_coverage in (0.0, 0.25, 0.5):
                tuning = replace(DEFAULT, floor=floor, gate_absent=gate_absent, gate_coverage=gate_coverage)
                grid.append((tuning, score(index, dev, tuning)))
    clean = sorted((g for g in grid if g[1]['none_empty'] == 1.0), key=lambda g: -g[1]['answered'])
    print(HEADER)
    for tuning, m in clean[:8]:
        print(row('floor %.2f, absent %.2f, coverage %.2f' % (tuning.floor, tuning.gate_absent, tuning.gate_coverage),
                  m))
    print('\n4. localq\'s defaults (floor %.2f, absent %.2f, coverage %.2f, %s), on both sets' % (
        DEFAULT.floor, DEFAULT.gate_absent, DEFAULT.gate_coverage, DEFAULT.fusion))
    print(HEADER)
    print(row('tuning set', score(index, dev, DEFAULT)))
    print(row('held-out set (never tuned on)', score(index, heldout, DEFAULT)))
    print(row('held-out set, no floor', score(index, heldout, UNGATED)))
    print('  tuning set:')
    misses(index, dev, DEFAULT)
    print('  held-out set:')
    misses(index, heldout, DEFAULT)
    index.close()

    html = json.load(open(HTML_HELDOUT))
    print('\n4b. Held-out questions on the HTML corpus (%d, %d with no answer), over both corpora (%d documents)'
          % (len(html), sum(not q['doc'] for q in html), len(corpus_files()) + len(corpus_files(HTML_CORPUS))))
    index = Index(model, folders=(CORPUS, HTML_CORPUS))
    print(HEADER)
    print(row('HTML held-out set', score(index, html, DEFAULT)))
    misses(index, html, DEFAULT)
    index.close()


IDEAS = {   # each idea's settings, one of which the tuning set picks; the held-out sets see only that one
    "today's linear fusion": [DEFAULT],
    'reciprocal rank fusion (k 10, 30, 60)': [replace(DEFAULT, fusion='rrf', rrf_k=k) for k in (10, 30, 60)],
    'linear, keyword and coverage weights': [replace(DEFAULT, keyword_weight=kw, coverage_weight=cw)
                                             for kw in (0.5, 1.0, 2.0) for cw in (0.0, 0.25, 0.5, 1.0)],
    'no-answer rule: a lower floor, and hits must share words with the query': [
        replace(DEFAULT, floor=f, min_coverage=mc) for f in (0.26, 0.28, 0.30, 0.32) for mc in (0.0, 0.1, 0.2, 0.3)],
}


def ideas(args):
    """Each idea in IDEAS: its best setting on the tuning set (every no-answer question empty, then the
    most answered), scored once on the held-out sets."""
    dev, heldout, html = (json.load(open(f)) for f in (QUESTIONS, HELDOUT, HTML_HELDOUT))
    model = WordLlamaEmbedder(256)
    index, both = Index(model), Index(model, folders=(CORPUS, HTML_CORPUS))
    print(HEADER)
    for label, settings in IDEAS.items():
        scored = [(t, score(index, dev, t)) for t in settings]
        tuning, m = max(scored, key=lambda g: (g[1]['none_empty'] == 1.0, g[1]['answered'], g[1]['mrr']))
        print('%s: %s' % (label, {k: v for k, v in vars(tuning).items() if getattr(DEFAULT, k) != v} or 'defaults'))
        print(row('  tuning set', m))
        print(row('  held-out set', score(index, heldout, tuning)))
        print(row('  HTML held-out set', score(both, html, tuning)))
    index.close()
    both.close()
    index, both = Index(model, titled=True), Index(model, folders=(CORPUS, HTML_CORPUS), titled=True)
    print("the document's title in every passage's embedding (today's ranking): measured, not in localq")
    print(row('  tuning set', score(index, dev, DEFAULT)))
    print(row('  held-out set', score(index, heldout, DEFAULT)))
    print(row('  HTML held-out set', score(both, html, DEFAULT)))
    index.close()
    both.close()


def old_embed(text):
    """The embedding before this change (localq/documents.py at 7165cbb), as it was."""
    vector = [0.0] * 256
    for token in re.findall(r'\w+', text.lower()):
        h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), 'little')
        vector[h % 256] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 5) for v in vector]


def old_search(db, query, limit=5):
    """The search before this change: every chunk's JSON vector decoded in Python, per query."""
    q = old_embed(query)
    scored = []
    for text, vector in db.execute('SELECT text, embedding FROM old_chunk'):
        scored.append((sum(a * b for a, b in zip(q, json.loads(vector))), text))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return scored[:limit]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def speed(args):
    import sqlite3
    questions = [q['q'] for q in json.load(open(QUESTIONS))]
    model = WordLlamaEmbedder(256)
    passages = []
    for name in corpus_files():
        path = os.path.join(CORPUS, name)
        passages += chunking.chunk_text(extract(path, KINDS[os.path.splitext(name)[1].lower()]).text)

    print('\n4. Ingest: extract, chunk, embed (wordllama 256-d) and store each document')
    app = LocalQ('bench-ingest', data_dir=tempfile.mkdtemp(prefix='bench-ingest-'))
    documents.init_app(app)
    for name in corpus_files():
        path = os.path.join(CORPUS, name)
        t0 = time.perf_counter()
        extracted = extract(path, KINDS[os.path.splitext(name)[1].lower()])
        t1 = time.perf_counter()
        pieces = chunking.split(extracted.text)
        vectors = model.embed(passage_texts(extracted, pieces))
        t2 = time.perf_counter()
        store_document(app, hashlib.sha256(name.encode()).hexdigest(), name, None, 'bench', extracted, pieces,
                       vectors, model.name)
        t3 = time.perf_counter()
        pages = len(extracted.pages)
        print('  %-36s %7d chars %4d passages  extract %6.0f ms  chunk+embed %5.0f ms  store %5.0f ms%s' % (
            name, len(extracted.text), len(pieces), 1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (t3 - t2),
            '  (%d pages: %.0f pages/s)' % (pages, pages / (t3 - t0)) if pages else ''))
    app.close()

    print('\n5. Search latency, ms (%d questions each; baseline: fewer at large sizes, it is slow)' % len(questions))
    print('%8s  %-28s %-28s %s' % ('passages', 'localq now p50 / p95', 'before (JSON) p50 / p95', 'first search (load)'))
    for n in args.sizes:
        texts = [passages[i % len(passages)] + ' (%d)' % i for i in range(n)]
        app = LocalQ('bench-speed', data_dir=tempfile.mkdtemp(prefix='bench-speed-'))
        documents.init_app(app)
        vectors = model.embed(texts)
        per_doc = 1000
        for d in range(0, n, per_doc):
            part = texts[d:d + per_doc]
            pieces = [chunking.Piece(0, t) for t in part]
            from localq.documents.extract import Extracted
            store_document(app, 'speed-%d' % d, 'doc%d.txt' % d, None, 'text', Extracted(' '.join(part)), pieces,
                           vectors[d:d + per_doc], model.name)
        t0 = time.perf_counter()
        documents.search(app, questions[0], embedder=model)
        load = time.perf_counter() - t0
        now = []
        for q in questions:
            t0 = time.perf_counter()
            documents.search(app, q, embedder=model)
            now.append(1000 * (time.perf_counter() - t0))
        old_db = sqlite3.connect(os.path.join(app.config.data_dir, 'old.db'))
        old_db.execute('CREATE TABLE old_chunk (id INTEGER PRIMARY KEY, text TEXT, embedding TEXT)')
        old_db.executemany('INSERT INTO old_chunk (text, embedding) VALUES (?, ?)',
                           ((t, json.dumps(old_embed(t))) for t in texts))
        old_db.commit()
        old = []
        for q in questions[:max(3, min(len(questions), 3000000 // n // 100))]:
            t0 = time.perf_counter()
            old_search(old_db, q)
            old.append(1000 * (time.perf_counter() - t0))
        old_db.close()
        print('%8d  %8.1f / %-17.1f %8.0f / %-17.0f %6.0f ms   (before / now at p95: %.0fx)' % (
            n, statistics.median(now), percentile(now, 95), statistics.median(old), percentile(old, 95),
            1000 * load, percentile(old, 95) / percentile(now, 95)))
        app.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quality', action='store_true', help='only the labelled questions')
    p.add_argument('--speed', action='store_true', help='only ingest and latency')
    p.add_argument('--sizes', default='1000,10000,100000', help='passage counts for the latency table')
    p.add_argument('--chunk-sizes', default='400,700,1000', help='passage sizes to compare')
    p.add_argument('--ideas', action='store_true', help='only the ranking ideas (IDEAS), each scored once')
    args = p.parse_args()
    if args.ideas:
        return ideas(args)
    args.sizes = [int(x) for x in args.sizes.split(',')]
    args.chunk_sizes = [int(x) for x in args.chunk_sizes.split(',')]
    if not args.speed:
        quality(args)
    if not args.quality:
        speed(args)


if __name__ == '__main__':
    main()
