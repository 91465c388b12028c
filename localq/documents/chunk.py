"""Cut a document's text into passages that keep their meaning: each ends at a paragraph
break if one falls in its second half, else at a sentence end, else between words; the next
starts a little earlier (the overlap), at a sentence start where one is near.

bench/bench_search.py compares sizes, and this against wordllama's semantic splitter.
"""
import dataclasses
import re

CHUNK_SIZE = 700       # characters; bench/bench_search.py --sizes measures the choice
CHUNK_OVERLAP = 120

_PARAGRAPH = re.compile(r'\n\s*\n')
_SENTENCE_END = re.compile(r'[.!?]["\')\]]*(?=\s)')
_SPACE = re.compile(r'\s')


@dataclasses.dataclass
class Piece:
    start: int      # offset in the document's text
    text: str


def _last(pattern, text, lo, hi, end_of_match=True):
    """The last match boundary of pattern within text[lo:hi], or None."""
    found = None
    for m in pattern.finditer(text, lo, hi):
        found = m.end() if end_of_match else m.start()
    return found


def split(text, size=CHUNK_SIZE, overlap=CHUNK_OVERLAP):
    """The passages of text, each at most `size` characters, with their offsets."""
    if overlap >= size:
        raise ValueError('overlap must be smaller than size')
    pieces, start, n = [], 0, len(text)
    while start < n:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            break
        end = min(n, start + size)
        if end < n:
            half = start + size // 2
            end = (_last(_PARAGRAPH, text, half, end, end_of_match=False)
                   or _last(_SENTENCE_END, text, half, end)
                   or _last(_SPACE, text, half, end, end_of_match=False)
                   or end)
        chunk = text[start:end].rstrip()
        if chunk:
            pieces.append(Piece(start, chunk))
        if end >= n:
            break
        # The next passage repeats the last `overlap` characters, from a sentence start if one is there.
        back = max(start + 1, end - overlap)
        sentence = _SENTENCE_END.search(text, back, end)
        if sentence and sentence.end() < end:
            nxt = sentence.end()
        else:
            space = _SPACE.search(text, back, end)
            nxt = space.end() if space and overlap else end
        start = nxt if nxt > start else end
    return pieces


def chunk_text(text, size=CHUNK_SIZE, overlap=CHUNK_OVERLAP):
    """The passages' texts."""
    return [p.text for p in split(text, size, overlap)]


def with_section(section, text):
    """What is embedded and indexed for a passage: its headings, then its text. A question names
    the section more often than the passage repeats its own heading."""
    return '%s\n\n%s' % (section, text) if section else text
