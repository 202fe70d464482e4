"""The text task's reference model: an interpolated Kneser-Ney trigram of the train split, whose perplexity on
the test windows scores 1 (tasks.text.reference_perplexity)."""

from __future__ import annotations

import numpy as np
import torch

KN_DISCOUNT = 0.75  # the absolute discount of every order (Chen & Goodman 1999's usual value)


class KneserNey:
    """An interpolated Kneser-Ney trigram model of a token stream (Chen & Goodman 1999, with one discount D for every
    order): the top order on raw counts, the lower orders on continuation counts (how many distinct tokens precede),
    the unigram interpolated with the uniform distribution over the vocabulary, so every token has a probability.

        P(w | u v) = max(c(uvw) - D, 0) / c(uv.) + D N(uv.) / c(uv.) P2(w | v)      (P2(w | v) where c(uv.) = 0)
        P2(w | v)  = max(N(.vw) - D, 0) / N(.v.) + D N(v.) / N(.v.) P1(w)           (P1(w) where N(.v.) = 0)
        P1(w)      = max(N(.w) - D, 0) / N(..) + D |{w: N(.w) > 0}| / N(..) / V

    c: counts, N(...): numbers of distinct tokens at the dots' places. A context of one token (the second word of a
    window) takes the bigram as its top order, on raw counts. Counted with numpy over n-gram codes, so a corpus of a
    few million tokens takes seconds."""

    def __init__(self, ids: torch.Tensor, vocab_size: int, discount: float = KN_DISCOUNT):
        self.V, self.D = vocab_size, discount
        t = ids.numpy().astype(np.int64)
        V = np.int64(vocab_size)
        tri_codes, tri_counts = np.unique((t[:-2] * V + t[1:-1]) * V + t[2:], return_counts=True)
        bi_codes, bi_counts = np.unique(t[:-1] * V + t[1:], return_counts=True)
        # top order, trigram: c(uvw), c(uv.), N(uv.)
        self.c_uvw = (tri_codes, tri_counts)
        self.c_uv = self._sums(tri_codes // V, tri_counts)
        self.n_uv = self._sums(tri_codes // V, np.ones_like(tri_counts))
        # top order, bigram: c(vw), c(v.), N(v.)
        self.c_vw = (bi_codes, bi_counts)
        self.c_v = self._sums(bi_codes // V, bi_counts)
        self.n_v = self._sums(bi_codes // V, np.ones_like(bi_counts))
        # middle order, continuation counts: N(.vw) = distinct u before vw, N(.v.), N(v.) over the distinct (v, w)
        # that follow some u
        cont_codes, cont_counts = np.unique(tri_codes % (V * V), return_counts=True)
        self.n_vw = (cont_codes, cont_counts)
        self.n_dotv = self._sums(cont_codes // V, cont_counts)
        self.n_v_types = self._sums(cont_codes // V, np.ones_like(cont_counts))
        # unigram: N(.w) = distinct v before w
        self.n_w = np.bincount((bi_codes % V).astype(np.int64), minlength=vocab_size).astype(np.float64)

    @staticmethod
    def _sums(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, inverse = np.unique(keys, return_inverse=True)
        return codes, np.bincount(inverse, weights=values).astype(np.float64)

    @staticmethod
    def _look(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
        """table's value at each key, 0 where absent."""
        codes, values = table
        at = np.clip(np.searchsorted(codes, keys), 0, max(len(codes) - 1, 0))
        found = (codes[at] == keys) if len(codes) else np.zeros(len(keys), bool)
        return np.where(found, values[at] if len(codes) else 0.0, 0.0).astype(np.float64)

    def unigram(self, w: np.ndarray) -> np.ndarray:
        total, seen = self.n_w.sum(), (self.n_w > 0).sum()
        return np.maximum(self.n_w[w] - self.D, 0) / total + self.D * seen / total / self.V

    def _interpolate(self, counts, totals, types, context: np.ndarray, w: np.ndarray,
                     lower: np.ndarray) -> np.ndarray:
        """One order: max(c(context w) - D, 0) / c(context .) + D N(context .) / c(context .) * lower, where c and N
        are read from the tables `counts` (by context * V + w), `totals` and `types` (by context); `lower` (the next
        order's probability) where the context was never seen."""
        denom = self._look(totals, context)
        safe = np.maximum(denom, 1)
        p = (np.maximum(self._look(counts, context * np.int64(self.V) + w) - self.D, 0) / safe
             + self.D * self._look(types, context) / safe * lower)
        return np.where(denom > 0, p, lower)

    def prob(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w | u v) for arrays of token ids; u = -1 where the context holds one token (v) only."""
        unigram = self.unigram(w)
        middle = self._interpolate(self.n_vw, self.n_dotv, self.n_v_types, v, w, unigram)
        bigram_top = self._interpolate(self.c_vw, self.c_v, self.n_v, v, w, unigram)
        uv = np.where(u >= 0, u, 0) * np.int64(self.V) + v
        trigram = self._interpolate(self.c_uvw, self.c_uv, self.n_uv, uv, w, middle)
        return np.where(u >= 0, trigram, bigram_top)

    def perplexity(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Perplexity on windows x -> y (y[:, t] follows x[:, t]): each target's context is the up to two tokens
        before it in its window, the context the models see there (a window's first target has one)."""
        x, y = x.numpy().astype(np.int64), y.numpy().astype(np.int64)
        u = np.concatenate([np.full((len(x), 1), -1), x[:, :-1]], axis=1)
        return float(np.exp(-np.log(self.prob(u.ravel(), x.ravel(), y.ravel())).mean()))
