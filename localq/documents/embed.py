"""Embedders: text -> normalised float32 vectors. Chosen by the `embedder` setting.

  wordllama  (default) WordLlama's l2_supercat static token embeddings, average-pooled: a real
             model whose weights and tokenizer ship inside the wordllama wheel (~17 MB); loads
             in ~0.2 s, runs offline on the CPU. Its own loader looks for the tokenizer in a
             misspelt folder and then downloads it, so it is loaded from the package's folder
             with downloads disabled: nothing is ever fetched at run time.
  hashing    a dependency-free FALLBACK, not a language model: hashed word counts in 256
             buckets. It finds shared words only (no synonyms, no paraphrases).

bench/bench_search.py measures both (and wordllama at fewer dimensions) on real documents.
"""
import hashlib
import re
import threading

import numpy as np

from ..errors import ConfigError

EMBEDDERS = ('wordllama', 'hashing')


class HashingEmbedder:
    """FALLBACK: hashed word counts, L2-normalised. Needs nothing; understands nothing."""
    name = 'hashing-256'
    dim = 256

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r'\w+', text.lower()):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), 'little')
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        return _normalised(out)


class WordLlamaEmbedder:
    """WordLlama l2_supercat (256 dimensions, or the first `dim` of them: Matryoshka-trained)."""

    def __init__(self, dim=256):
        import wordllama   # a dependency; imported here so the hashing fallback needs nothing
        from pathlib import Path
        self.dim = dim
        self.name = 'wordllama-l2_supercat-%d' % dim
        self._model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True,
                                               trunc_dim=dim if dim != 256 else None)

    def embed(self, texts):
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(np.asarray(self._model.embed(list(texts), norm=False), dtype=np.float32))

    def split(self, text, target_size):
        """WordLlama's semantic splitter (compared with chunk.py's in the benchmark)."""
        return self._model.split(text, target_size=target_size)


def _normalised(vectors):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


_cache = {}
_lock = threading.Lock()


def get_embedder(name='wordllama', dim=256):
    """The process's embedder of that name, loaded once."""
    if name not in EMBEDDERS:
        raise ConfigError('embedder must be one of %s, got %r' % (', '.join(EMBEDDERS), name))
    key = (name, dim)
    with _lock:
        if key not in _cache:
            _cache[key] = WordLlamaEmbedder(dim) if name == 'wordllama' else HashingEmbedder()
        return _cache[key]
