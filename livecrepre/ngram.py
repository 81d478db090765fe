"""A count-based baseline: interpolated Kneser-Ney n-grams over tokens, all orders at once.

N-grams are hashed (a 64-bit polynomial hash of the tokens) and counted with numpy, so orders up to
~30 over a million tokens take seconds. The highest order uses raw counts, lower orders continuation
counts (how many distinct tokens precede an n-gram), each order with its own absolute discount
D = n1 / (n1 + 2 n2). `nll_by_order` scores held-out pieces with every maximum order in one pass,
so the best order can be chosen on validation data.
"""
from __future__ import annotations

import numpy as np

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier: distinct short sequences, distinct hashes


def _hashes(tokens: np.ndarray, max_order: int) -> list[np.ndarray]:
    """hashes[n][i] = hash of tokens[i-n+1 .. i] (n >= 1); hashes[0] is the empty sequence."""
    t = tokens.astype(np.uint64) + np.uint64(1)
    out = [np.zeros(len(t), np.uint64)]
    with np.errstate(over="ignore"):
        for n in range(1, max_order + 1):
            previous = np.concatenate([[np.uint64(0)], out[n - 1][:-1]])
            out.append(previous * _BASE + t)
    return out


def _has_history(starts: np.ndarray, length: int, n: int) -> np.ndarray:
    """Positions with at least n-1 earlier tokens in their own piece."""
    offset = np.arange(length) - np.repeat(starts, np.diff(np.append(starts, length)))
    return offset >= n - 1


class _Table:
    """Counts of one order: per n-gram, and per context (total and distinct followers)."""

    def __init__(self, grams: np.ndarray, contexts: np.ndarray, counts: np.ndarray):
        order = np.argsort(grams)
        self.grams, self.counts = grams[order], counts[order].astype(np.float64)
        self.ctx_keys, inverse = np.unique(contexts[order], return_inverse=True)
        self.ctx_totals = np.bincount(inverse, weights=self.counts)
        self.ctx_types = np.bincount(inverse).astype(np.float64)
        n1, n2 = np.sum(self.counts == 1), np.sum(self.counts == 2)
        # kept inside (0, 1): with no singletons the estimate is 0, and nothing unseen could happen
        self.discount = float(np.clip(n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5, 0.05, 0.95))

    @staticmethod
    def _find(keys: np.ndarray, query: np.ndarray):
        index = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
        found = (keys[index] == query) if len(keys) else np.zeros(len(query), bool)
        return index, found

    def lookup(self, grams: np.ndarray, contexts: np.ndarray):
        g, g_found = self._find(self.grams, grams)
        c, c_found = self._find(self.ctx_keys, contexts)
        count = np.where(g_found, self.counts[g], 0.0)
        total = np.where(c_found, self.ctx_totals[c], 0.0)
        types = np.where(c_found, self.ctx_types[c], 0.0)
        return count, total, types


class KneserNey:
    def __init__(self, max_order: int = 24, vocab: int = 130):
        self.max_order, self.vocab = max_order, vocab
        self.raw: list[_Table] = []  # per order: raw counts (used for the highest order)
        self.continuation: list[_Table] = []  # per order: continuation counts (lower orders)

    def fit(self, pieces: list[np.ndarray]) -> "KneserNey":
        tokens = np.concatenate(pieces)
        starts = np.cumsum([0] + [len(p) for p in pieces[:-1]])
        hashes = _hashes(tokens, self.max_order + 1)
        self.raw, self.continuation = [], []
        for n in range(1, self.max_order + 1):
            at = np.flatnonzero(_has_history(starts, len(tokens), n))
            keys, first, counts = np.unique(hashes[n][at], return_index=True, return_counts=True)
            self.raw.append(_Table(keys, self._context(hashes, n, at[first]), counts))
            # continuation counts: how many distinct (n+1)-grams end in this n-gram
            longer = np.flatnonzero(_has_history(starts, len(tokens), n + 1))
            _, ext_first = np.unique(hashes[n + 1][longer], return_index=True)
            ends = longer[ext_first]
            keys, first, counts = np.unique(hashes[n][ends], return_index=True, return_counts=True)
            self.continuation.append(_Table(keys, self._context(hashes, n, ends[first]), counts))
        return self

    @staticmethod
    def _context(hashes, n: int, positions: np.ndarray) -> np.ndarray:
        """Hash of the n-1 tokens before each position's last token (empty for unigrams)."""
        return hashes[n - 1][positions - 1] if n > 1 else np.zeros(len(positions), np.uint64)

    @staticmethod
    def _interpolate(table: _Table, count, total, types, lower):
        seen = total > 0
        d = table.discount
        return np.where(seen, (np.maximum(count - d, 0) + d * types * lower) / np.where(seen, total, 1),
                        lower)

    def nll_by_order(self, pieces: list[np.ndarray]) -> list[float]:
        """Mean nats per predicted token (each piece's first token is given) for orders 1..max."""
        return [float(-np.log(p).mean()) for p in self.probabilities_by_order(pieces)]

    def probabilities_by_order(self, pieces: list[np.ndarray]) -> list[np.ndarray]:
        """P(token | history) of every predicted token, for each maximum order 1..max:
        order N interpolates raw counts at N with continuation counts below it."""
        tokens = np.concatenate(pieces)
        starts = np.cumsum([0] + [len(p) for p in pieces[:-1]])
        hashes = _hashes(tokens, self.max_order)
        predicted = np.ones(len(tokens), bool)
        predicted[starts] = False
        lower = np.full(len(tokens), 1.0 / self.vocab)  # continuation-count chain so far
        top = lower  # raw counts at each position's highest usable order so far
        results = []
        for n in range(1, self.max_order + 1):
            at = np.flatnonzero(_has_history(starts, len(tokens), n))
            grams, contexts = hashes[n][at], self._context(hashes, n, at)
            top = top.copy()  # positions with too little history keep their highest order
            top[at] = self._interpolate(self.raw[n - 1], *self.raw[n - 1].lookup(grams, contexts), lower[at])
            results.append(top[predicted])
            table = self.continuation[n - 1]
            lower = lower.copy()
            lower[at] = self._interpolate(table, *table.lookup(grams, contexts), lower[at])
        return results
