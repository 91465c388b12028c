"""HTML text extraction, measured: which extractor keeps what a reader calls a page's content
and drops its navigation, on real pages from many generators, and how fast.

    python bench/bench_extract.py            # every candidate that is installed

bench/html_corpus/labels.json marks each page (sources and licences in
bench/html_corpus/SOURCES.md): `keep`, phrases of its content (from its start, middle and end)
that the text must contain; `drop`, navigation it must not (matched as whole words).
Whitespace is collapsed before matching. A candidate's keep score is the share of keep phrases
found over all pages, its drop score the share of drop strings absent; "empty" counts pages it
returned no text for. Candidates that are not installed are listed as such (pip install
trafilatura readability-lxml justext resiliparse html-text inscriptis to run them all).
"""
import json
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
CORPUS = os.path.join(ROOT, 'bench', 'html_corpus')
LABELS = os.path.join(CORPUS, 'labels.json')


def handwritten(html):
    """The html.parser extractor localq had before (kept here for the comparison)."""
    from old_html_extract import extract_html
    return extract_html(html)


def localq_now(html):
    from localq.documents.extract import html_text
    return html_text(html)


def trafilatura_default(html):
    import trafilatura
    return trafilatura.extract(html, include_tables=True, include_comments=False) or ''


def trafilatura_recall(html):
    import trafilatura
    return trafilatura.extract(html, include_tables=True, include_comments=False, favor_recall=True) or ''


def readability(html):
    import lxml.html
    from readability import Document
    summary = Document(html).summary(html_partial=True)
    return lxml.html.fromstring(summary).text_content() if summary.strip() else ''


def justext_paragraphs(html):
    import justext
    return '\n\n'.join(p.text for p in justext.justext(html.encode('utf-8'), justext.get_stoplist('English'))
                       if not p.is_boilerplate)


def resiliparse_main(html):
    from resiliparse.extract.html2text import extract_plain_text
    return extract_plain_text(html, main_content=True)


def html_text_all(html):
    import html_text
    return html_text.extract_text(html)


def inscriptis_all(html):
    import inscriptis
    return inscriptis.get_text(html)


CANDIDATES = [('localq (hand-written html.parser, before)', handwritten), ('localq now', localq_now),
              ('trafilatura 2 (default)', trafilatura_default), ('trafilatura 2 (favor_recall)', trafilatura_recall),
              ('readability-lxml', readability), ('justext', justext_paragraphs),
              ('resiliparse (main_content)', resiliparse_main),
              ('html-text (everything, no filter)', html_text_all), ('inscriptis (everything, no filter)', inscriptis_all)]


def collapse(text):
    return re.sub(r'\s+', ' ', text).strip()


def score(extract, pages, repeat=3):
    kept = dropped = keep_n = drop_n = empty = 0
    times, failures = [], []
    for name, (html, label) in pages.items():
        try:
            start = time.perf_counter()
            for _ in range(repeat):
                text = extract(html)
            times.append((time.perf_counter() - start) / repeat)
        except ImportError:
            raise
        except Exception as exc:   # a candidate that crashes on a page scores nothing there
            text = ''
            failures.append('%s: %s' % (name, type(exc).__name__))
        text = collapse(text)
        empty += not text
        for phrase in label['keep']:
            keep_n += 1
            if collapse(phrase) in text:
                kept += 1
            else:
                failures.append('%s: lost %r' % (name, phrase[:40]))
        for nav in label['drop']:
            drop_n += 1
            if re.search(r'(?<!\w)%s(?!\w)' % re.escape(nav), text):
                failures.append('%s: kept %r' % (name, nav))
            else:
                dropped += 1
    return {'keep': kept / keep_n, 'drop': dropped / drop_n, 'empty': empty,
            'ms': 1000 * statistics.mean(times) if times else float('nan'), 'ms_total': 1000 * sum(times),
            'failures': failures}


def load_pages():
    with open(LABELS, encoding='utf-8') as fh:
        labels = {k: v for k, v in json.load(fh).items() if not k.startswith('_')}
    pages = {}
    for name, label in labels.items():
        with open(os.path.join(CORPUS, name), encoding='utf-8', errors='replace') as fh:
            pages[name] = (fh.read(), label)
    return pages


def main():
    pages = load_pages()
    print('%d pages from %d generators, %d KB' % (
        len(pages), len({p[1]['generator'].split(' (')[0] for p in pages.values()}),
        sum(len(h) for h, _ in pages.values()) // 1024))
    print('%-38s %6s %6s %6s %10s' % ('extractor', 'keep', 'drop', 'empty', 'ms/page'))
    verbose = '-v' in sys.argv
    for label, extract in CANDIDATES:
        try:
            m = score(extract, pages)
        except ImportError as exc:
            print('%-38s not installed (%s)' % (label, exc.name))
            continue
        print('%-38s %5.0f%% %5.0f%% %6d %10.1f' % (label, 100 * m['keep'], 100 * m['drop'], m['empty'], m['ms']))
        if verbose:
            for f in m['failures']:
                print('      ', f)


if __name__ == '__main__':
    main()
