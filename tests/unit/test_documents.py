"""The document pipeline's pure parts: extraction, chunking, the embedders."""
import json
import os
import re

import numpy as np

from localq.documents import chunk_text, get_embedder, split
from localq.documents.extract import _html, _markdown, extract, tidy
from tests.conftest import ROOT


def test_chunks_overlap_cover_the_text_and_start_on_word_boundaries():
    text = ' '.join('word%d' % i for i in range(400))
    chunks = chunk_text(text, size=200, overlap=50)
    assert len(chunks) > 5
    words = set(text.split())
    assert all(c.split()[0] in words and c.split()[-1] in words for c in chunks)   # no cut words
    assert chunks[0].startswith('word0 ') and chunks[-1].endswith('word399')
    for a, b in zip(chunks, chunks[1:]):
        assert b.split()[0] in a.split()   # each chunk starts inside the previous one


def test_chunks_end_at_sentences_and_start_where_they_say_they_do():
    text = ('Refunds are paid within fourteen days. Shipping is free above fifty euros.\n\n'
            'Support answers every message within one working day. ') * 12
    pieces = split(text, size=300, overlap=60)
    assert all(p.text.endswith(('.', 'day.')) for p in pieces[:-1])    # cut after a sentence
    assert all(text[p.start:p.start + len(p.text)] == p.text for p in pieces)
    assert all(p.text[0].isupper() for p in pieces)                    # and start with one


def test_html_keeps_the_content_not_the_navigation():
    page = ('<html><head><title>T</title><style>p{}</style></head><body><nav><a>Home</a> <a>Docs</a></nav>'
            '<header>Site name</header><main><h1>Refunds</h1><p>Refunds are <b>paid</b> within 14 days.</p>'
            '</main><aside>Related</aside><footer>(c) 2026</footer><script>var x</script></body></html>')
    assert tidy(_html(page)) == 'Refunds\n\nRefunds are paid within 14 days.'


def test_the_rustdoc_books_print_page_gives_the_whole_book():
    # mdBook's print.html: the hand-written extractor skipped an element whose end never matched,
    # and the skip swallowed the page ("the file has no text").
    path = os.path.join(ROOT, 'bench', 'html_corpus', 'mdbook-rustdoc-book-print.html')
    text = extract(path, 'html').text
    assert text.startswith('The rustdoc book') or 'What is rustdoc?' in text[:200]
    assert 'There are many great rustdoc references out there.' in text   # the last chapter
    assert 'Light (default)' not in text and 'Coal' not in text            # the theme menu


def test_every_page_of_the_extraction_corpus_keeps_its_content_and_drops_most_navigation():
    # bench/bench_extract.py's corpus and labels: eleven generators' real pages.
    with open(os.path.join(ROOT, 'bench', 'html_corpus', 'labels.json'), encoding='utf-8') as fh:
        labels = {k: v for k, v in json.load(fh).items() if not k.startswith('_')}
    lost, kept_nav, nav = [], 0, 0
    for name, label in labels.items():
        text = ' '.join(extract(os.path.join(ROOT, 'bench', 'html_corpus', name), 'html').text.split())
        lost += [(name, p) for p in label['keep'] if ' '.join(p.split()) not in text]
        nav += len(label['drop'])
        kept_nav += sum(bool(re.search(r'(?<!\w)%s(?!\w)' % re.escape(d), text)) for d in label['drop'])
    assert lost == []
    assert kept_nav <= nav // 10   # the texinfo page's unmarked [Contents] bar is the rest


def test_markdown_loses_its_markup_but_keeps_identifiers():
    text = tidy(_markdown('# Title\n\nSet **max_connections** and see [the docs](http://x).\n\n| a | b |\n|---|---|'))
    assert text == 'Title\n\nSet max_connections and see the docs.\n\na b'


def test_the_model_puts_a_paraphrase_closer_than_an_unrelated_text():
    model = get_embedder('wordllama')
    refund, paraphrase, unrelated = model.embed(['When do I get my money back?',
                                                 'Refunds are paid within fourteen days.',
                                                 'The cat sat on the mat in the sun.'])
    assert float(refund @ paraphrase) > float(refund @ unrelated) + 0.1
    assert abs(float(np.linalg.norm(refund)) - 1.0) < 1e-5


def test_the_hashing_fallback_only_sees_shared_words():
    hashing = get_embedder('hashing')
    a, b, c = hashing.embed(['refunds are paid within fourteen days', 'refunds paid in fourteen days',
                             'When do I get my money back?'])
    assert float(a @ b) > 0.5 and abs(float(a @ c)) < 0.3


def test_a_passage_knows_the_headings_it_falls_under_in_html_and_markdown():
    html = extract(os.path.join(ROOT, 'bench', 'corpus', 'postgresql-routine-vacuuming.html'), 'html')
    at = html.text.index('return the space to the operating system')   # in 25.1.2, past its line in the page's contents
    assert html.section_at(at) == '25.1. Routine Vacuuming › 25.1.2. Recovering Disk Space'
    md = extract(os.path.join(ROOT, 'bench', 'corpus', 'commander-readme.md'), 'markdown')
    assert md.section_at(md.text.index('npm install commander')) == 'Commander.js › Installation'


def test_docx_heading_styles_and_a_pdf_outline_give_sections(tmp_path):
    import io
    import zipfile

    import pypdf
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    paragraph = '<w:p>%s<w:r><w:t>%s</w:t></w:r></w:p>'
    style = '<w:pPr><w:pStyle w:val="%s"/></w:pPr>'
    body = ''.join(paragraph % (style % s if s else '', t) for s, t in [
        ('Heading1', 'Refunds'), ('', 'Refunds are paid within fourteen days.'),
        ('Heading2', 'Exceptions'), ('', 'Gift cards are never refunded.')])
    docx = tmp_path / 'policy.docx'
    with zipfile.ZipFile(docx, 'w') as z:
        z.writestr('word/document.xml', '<w:document %s><w:body>%s</w:body></w:document>' % (w, body))
    doc = extract(str(docx), 'docx')
    assert doc.section_at(doc.text.index('Gift cards')) == 'Refunds › Exceptions'
    assert doc.section_at(doc.text.index('fourteen')) == 'Refunds'

    from tests.integration.test_uploads import make_pdf
    writer = pypdf.PdfWriter()
    for line in ('Installing the tool on a new machine.', 'Removing the tool again.'):
        writer.append(pypdf.PdfReader(io.BytesIO(make_pdf(line))))
    guide = writer.add_outline_item(title='Guide', page_number=0)
    writer.add_outline_item(title='Uninstall', page_number=1, parent=guide)
    pdf = tmp_path / 'guide.pdf'
    writer.write(str(pdf))
    doc = extract(str(pdf), 'pdf')
    assert doc.section_at(doc.text.index('Installing')) == 'Guide'
    assert doc.section_at(doc.text.index('Removing')) == 'Guide › Uninstall'


def test_a_hit_needs_the_floor_and_as_many_of_the_query_words_as_the_tuning_asks():
    from dataclasses import replace
    from localq.documents.search import DEFAULT, passes
    # Today's rule: the embedding alone can carry a passage over the floor.
    assert passes(0.40, 0.0, 0.0, DEFAULT)
    assert not passes(0.20, 0.0, 0.0, DEFAULT)
    # Words missing from every stored passage pull a close embedding under the floor.
    assert not passes(0.40, 0.0, 1.0, DEFAULT)
    # With a word rule, a close embedding sharing no word of the query is no hit; one sharing enough is.
    strict = replace(DEFAULT, min_coverage=0.2)
    assert not passes(0.40, 0.0, 0.0, strict)
    assert not passes(0.40, 0.1, 0.0, strict)
    assert passes(0.40, 0.2, 0.0, strict)
    assert not passes(0.05, 1.0, 0.0, strict)   # every word, but far off: under the floor
