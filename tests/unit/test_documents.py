"""The document pipeline's pure parts: chunking and the local embedding."""
from localq.documents import chunk_text, embed


def test_chunks_overlap_cover_the_text_and_start_on_word_boundaries():
    text = ' '.join('word%d' % i for i in range(400))
    chunks = chunk_text(text, size=200, overlap=50)
    assert len(chunks) > 5
    words = set(text.split())
    assert all(c.split()[0] in words and c.split()[-1] in words for c in chunks)   # no cut words
    assert chunks[0].startswith('word0 ') and chunks[-1].endswith('word399')
    for a, b in zip(chunks, chunks[1:]):
        assert b.split()[0] in a.split()   # each chunk starts inside the previous one


def test_similar_texts_embed_closer_than_unrelated_ones():
    def cos(a, b):
        return sum(x * y for x, y in zip(a, b))
    refund = embed('refunds are paid within fourteen days')
    assert cos(refund, embed('refund paid in fourteen days')) > cos(refund, embed('the cat sat on a mat'))
    assert abs(cos(refund, refund) - 1.0) < 1e-3
