"""Search the stored documents: vector similarity and keyword matches combined, with a
floor, so a question nothing answers gets no hits rather than the five least bad passages.

For each candidate passage (the best by similarity, and the best by BM25):
  similarity  cosine of the query's and the passage's embeddings;
  keyword     the passage's BM25 score relative to the query's best;
  coverage    the share of the query's words the passage contains, each weighted by its
              rarity (IDF) in the stored documents;
and for the query:
  absent      the share of its words (IDF-weighted) that occur in no stored passage: a
              question about checkpoint_timeout, or xz, when no document mentions them. A
              word missing from a few passages says little, from thousands a lot, so it
              counts by N / (N + ABSENT_HALF) for N stored passages.
A passage is a hit when similarity + gate_coverage * coverage - gate_absent * absent reaches
the floor; hits are ranked by similarity + keyword_weight * keyword + coverage_weight *
coverage ("linear"), or, to compare, by reciprocal rank fusion or by one ranking alone.
bench/bench_search.py measured all of these on labelled questions over real documents.
"""
import dataclasses
import math
import re

import numpy as np

from ..errors import LocalqError
from .embed import get_embedder
from .index import FREQUENCY_CAP, document_frequency, keyword_matches, query_terms, vector_index
from .tokens import code_tokens, is_option, token_matches

MAX_QUERY = 500
MAX_LIMIT = 50
ABSENT_HALF = 200   # stored passages at which a missing word counts half


class BadQuery(LocalqError, ValueError):
    """Raised for a search that cannot run: an empty or overlong query, a bad limit."""


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How a search ranks and cuts; the defaults are what bench/bench_search.py chose."""
    candidates: int = 60          # taken from each ranking
    fusion: str = 'linear'        # 'linear', 'rrf' (reciprocal rank), or one ranking alone: 'vector', 'keyword'
    keyword_weight: float = 1.0
    coverage_weight: float = 0.25
    rrf_k: int = 60
    # similarity + gate_coverage*coverage - gate_absent*absent must reach the floor. Chosen on the
    # tuning questions by a rule fixed in advance: of the settings that gave every no-answer
    # question no hits and answered the most, the lowest floor (the most recall).
    floor: float = 0.32           # 0.38 and 0.5 before passages carried their section path
    gate_coverage: float = 0.25
    gate_absent: float = 0.75
    # and a hit must hold at least this share (IDF-weighted) of the query's words, in its text or
    # headings: 0 lets a passage through on its embedding alone.
    min_coverage: float = 0.0


DEFAULT = Tuning()
UNGATED = dataclasses.replace(DEFAULT, floor=-math.inf)   # every candidate: for measuring rankings


def search(app, query, limit=5, tuning=DEFAULT, embedder=None):
    """The stored passages that answer `query`, best first: a list of hit dicts (may be empty)."""
    query = (query or '').strip()
    if not query:
        raise BadQuery('give a query: ?q=words')
    if len(query) > MAX_QUERY:
        raise BadQuery('the query is longer than %d characters' % MAX_QUERY)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise BadQuery('limit must be a whole number from 1 to %d' % MAX_LIMIT)
    embedder = embedder or get_embedder(app.config.embedder)
    storage = app.query
    ids, sims = vector_index(app, embedder).similarities(app, embedder.embed([query])[0])
    if not len(ids):
        return []
    terms = query_terms(query)
    frequency = {t: document_frequency(storage, t) for t in terms}
    idf = {t: math.log((len(ids) + 1) / (frequency[t] + 0.5)) for t in terms}
    total = sum(idf.values()) or 1.0
    absent = sum(idf[t] for t in terms if not frequency[t]) / total * len(ids) / (len(ids) + ABSENT_HALF)
    keyword = keyword_matches(storage, keyword_query(terms, frequency), tuning.candidates)
    # Passages holding the query's code-like tokens as written rank with the best keyword match.
    exact_tokens = code_tokens(query) + [t for t in terms if is_option(t) and t not in code_tokens(query)]
    if exact_tokens:
        best = max((score for _, score in keyword), default=1.0)
        found = {}
        for token in exact_tokens:
            for c in token_matches(storage, token, tuning.candidates):
                found[c] = found.get(c, 0) + 1
        ranked = sorted(found, key=lambda c: -found[c])
        keyword = [(c, best) for c in ranked] + [(c, s) for c, s in keyword if c not in found]
    top = np.argpartition(-sims, min(tuning.candidates, len(sims)) - 1)[:tuning.candidates]
    vector_rank = [int(ids[i]) for i in top[np.argsort(-sims[top])]]
    keyword_rank = [c for c, _ in keyword]
    positions = np.searchsorted(ids, keyword_rank) if keyword_rank else []
    similarity = {c: float(sims[p]) for c, p in zip(keyword_rank, positions) if p < len(ids) and ids[p] == c}
    similarity.update({int(ids[i]): float(sims[i]) for i in top})
    best_keyword = max((score for _, score in keyword), default=1.0) or 1.0
    keyword_share = {c: score / best_keyword for c, score in keyword}
    texts = {row['chunk_id']: row for row in _rows(storage, list(similarity))}
    patterns = [(term_pattern(t), idf[t]) for t in terms]
    # A passage covers a word in its text or in the headings it falls under.
    placed = {c: '%s\n%s' % (texts[c]['section'] or '', texts[c]['text']) for c in texts}
    coverage = {c: sum(w for pattern, w in patterns if pattern.search(placed[c])) / total for c in texts}
    # A passage with every code-like token of the query, as written, answers it whatever the embedding says.
    exact = [term_pattern(t) for t in exact_tokens]
    kept = [c for c in texts if passes(similarity[c], coverage[c], absent, tuning)
            or (exact and all(p.search(texts[c]['text']) for p in exact))]
    scores = fuse(kept, vector_rank, keyword_rank, similarity, keyword_share, coverage, tuning)
    best = sorted(kept, key=lambda c: -scores[c])[:limit]
    return [dict(texts[c], score=round(scores[c], 4), similarity=round(similarity[c], 3),
                 coverage=round(coverage[c], 3), keyword=c in keyword_share, highlights=highlights(texts[c]['text'], terms))
            for c in best]


def passes(similarity, coverage, absent, tuning):
    """Whether a passage is a hit at all (before ranking): the floor, then the words it must share."""
    return (similarity + tuning.gate_coverage * coverage - tuning.gate_absent * absent >= tuning.floor
            and coverage >= tuning.min_coverage)


def keyword_query(terms, frequency):
    """The terms worth a BM25 match: present somewhere, and not in FREQUENCY_CAP passages or more
    (such a word barely changes BM25's order, and makes it score thousands of rows); at least
    the two rarest."""
    # Options are matched in the token table: the word index would read -k as any k.
    present = sorted((t for t in terms if frequency[t] and not is_option(t)), key=lambda t: frequency[t])
    rare = [t for t in present if frequency[t] < FREQUENCY_CAP]
    return rare if len(rare) >= 2 else present[:2]


def fuse(candidates, vector_rank, keyword_rank, similarity, keyword_share, coverage, tuning):
    """{chunk id: score} of the candidates, by the tuning's fusion."""
    if tuning.fusion == 'vector':
        return {c: similarity[c] for c in candidates}
    if tuning.fusion == 'keyword':
        return {c: keyword_share.get(c, -1.0) + 1e-3 * similarity[c] for c in candidates}
    if tuning.fusion == 'rrf':
        vpos = {c: i for i, c in enumerate(vector_rank)}
        kpos = {c: i for i, c in enumerate(keyword_rank)}
        return {c: (1.0 / (tuning.rrf_k + vpos[c]) if c in vpos else 0.0)
                + (1.0 / (tuning.rrf_k + kpos[c]) if c in kpos else 0.0) for c in candidates}
    return {c: similarity[c] + tuning.keyword_weight * keyword_share.get(c, 0.0) + tuning.coverage_weight * coverage[c]
            for c in candidates}


def _rows(storage, chunk_ids):
    """The hits' passages with their documents, in the given order."""
    if not chunk_ids:
        return []
    rows = storage.sql(
        'SELECT c.id, c.number, c.page, c.text, d.id, d.filename, d.kind, c.section FROM doc_chunk c '
        'JOIN document d ON d.id = c.document_id WHERE c.id IN (%s)' % ','.join('?' * len(chunk_ids)),
        tuple(chunk_ids)).fetchall()
    by_id = {r[0]: {'chunk_id': r[0], 'number': r[1], 'page': r[2], 'text': r[3], 'document_id': r[4],
                    'document': r[5], 'kind': r[6], 'section': r[7]} for r in rows}
    return [by_id[c] for c in chunk_ids if c in by_id]


def term_pattern(term):
    """A query word as it may appear in a passage: identifiers whole, other words by their stem
    ("refunds" finds "refund" and "refunded"), case ignored."""
    if is_option(term):   # -k is not -K, nor the k of a word
        return re.compile(r'(?<![\w\-])%s(?![\w\-])' % re.escape(term))
    if re.search(r'[_.\-]', term) or any(ch.isdigit() for ch in term):
        return re.compile(re.escape(term), re.IGNORECASE)
    stem = term.lower()[:max(4, len(term) - 2)] if len(term) > 4 else term.lower()
    return re.compile(r'\b%s\w*' % re.escape(stem), re.IGNORECASE)


def highlights(text, terms):
    """[[start, end], ...] of the query's words in a passage, for the page to mark without trusting HTML."""
    spans = []
    for term in terms:
        spans += [[m.start(), m.end()] for m in term_pattern(term).finditer(text)]
    spans.sort()
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
