"""The document pipeline's text parts on their own: the code-like tokens a passage is found by as
written (documents/tokens.py), and where passages are cut (documents/chunk.py)."""
import pytest

from localq.documents.chunk import chunk_text, split, with_section
from localq.documents.tokens import MAX_TOKEN, code_tokens, is_option


@pytest.mark.parametrize('text, tokens', [
    ('Use tar -z, --gzip to compress', ['-z', '--gzip']),
    ('see -k and -K', ['-k', '-K']),                                 # case kept: they differ
    ('--color=auto or --no-color', ['--color', '--no-color']),     # an option's value left off
    ('call os.path.join() then match()', ['os.path.join', 'match']),
    ('errno EADDRINUSE and SIGTERM or BZ_DATA_ERROR', ['EADDRINUSE', 'SIGTERM', 'BZ_DATA_ERROR']),
    ('set workFactor and max_connections', ['workFactor', 'max_connections']),
    ('os.path.join and os.path.join again', ['os.path.join']),      # each once
    ('see file.txt', ['file.txt']),
])
def test_code_like_tokens_are_found_as_written(text, tokens):
    assert code_tokens(text) == tokens


@pytest.mark.parametrize('text', [
    'a well-known re-run of e-mail',     # hyphenated words are no options
    'x-k',
    'plain words only, Capitalised Too',
    'ABC',                               # upper-case codes need four characters
    'version 1.2.3',
    '',
])
def test_ordinary_words_are_no_code_tokens(text):
    assert code_tokens(text) == []


def test_an_overlong_token_is_left_out():
    assert code_tokens('--' + 'a' * MAX_TOKEN) == []
    assert code_tokens('--' + 'a' * (MAX_TOKEN - 2)) == ['--' + 'a' * (MAX_TOKEN - 2)]


@pytest.mark.parametrize('term, option', [('-k', True), ('--gzip', True), ('os.path', False), ('EPIPE', False)])
def test_an_option_is_a_term_that_starts_with_a_dash(term, option):
    assert is_option(term) is option


# -- passages ----------------------------------------------------------------------------------

def test_a_short_text_is_one_passage_without_its_surrounding_space():
    assert [(p.start, p.text) for p in split('\n\n  Refunds are paid.  \n', size=100, overlap=10)] == [
        (4, 'Refunds are paid.')]


@pytest.mark.parametrize('text', ['', '   ', '\n\n\t'])
def test_an_empty_text_has_no_passages(text):
    assert split(text) == [] and chunk_text(text) == []


@pytest.mark.parametrize('size, overlap', [(100, 100), (100, 150)])
def test_an_overlap_not_smaller_than_the_size_is_refused(size, overlap):
    with pytest.raises(ValueError, match='overlap must be smaller than size'):
        split('some text', size=size, overlap=overlap)


def test_a_passage_ends_at_a_paragraph_break_in_its_second_half_before_a_sentence_end():
    first = 'A first paragraph that runs on. It has two sentences and more words in it.'
    text = first + '\n\n' + 'The second paragraph starts here. ' * 5
    pieces = split(text, size=120, overlap=20)
    assert pieces[0].text == first


def test_a_paragraph_break_in_the_first_half_does_not_cut_a_passage_short():
    text = 'Short.\n\n' + 'A long sentence with many words goes on and on. ' * 4
    assert len(split(text, size=150, overlap=20)[0].text) > 75


def test_a_word_longer_than_a_passage_is_cut_at_the_size():
    pieces = split('x' * 250, size=100, overlap=10)
    assert [len(p.text) for p in pieces] == [100, 100, 50]
    assert ''.join(p.text for p in pieces) == 'x' * 250


@pytest.mark.parametrize('size, overlap', [(80, 0), (80, 20), (200, 60), (700, 120)])
def test_passages_fit_the_size_cover_the_text_and_say_where_they_start(size, overlap):
    text = ' '.join('Sentence number %d ends here.' % i for i in range(120))
    pieces = split(text, size=size, overlap=overlap)
    assert all(len(p.text) <= size for p in pieces)
    assert all(text[p.start:p.start + len(p.text)] == p.text for p in pieces)
    assert all(b.start > a.start for a, b in zip(pieces, pieces[1:]))          # always moves on
    covered = set()
    for p in pieces:
        covered.update(range(p.start, p.start + len(p.text)))
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())


def test_without_overlap_passages_do_not_repeat_text():
    text = ' '.join('word%d' % i for i in range(200))
    pieces = split(text, size=100, overlap=0)
    assert all(b.start >= a.start + len(a.text) for a, b in zip(pieces, pieces[1:]))


def test_a_passage_is_indexed_under_its_section_headings():
    assert with_section('Guide › Install', 'Run pip install.') == 'Guide › Install\n\nRun pip install.'
    assert with_section('', 'Run pip install.') == with_section(None, 'Run pip install.') == 'Run pip install.'
