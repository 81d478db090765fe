import numpy as np
import pytest

from livecrepre.ngram import KneserNey


def test_probabilities_sum_to_one_over_the_vocabulary():
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 6, 200) for _ in range(5)]
    kn = KneserNey(max_order=4, vocab=6).fit(train)
    history = train[0][:10]
    for order in range(4):
        total = sum(kn.probabilities_by_order([np.append(history, w)])[order][-1] for w in range(6))
        assert total == pytest.approx(1.0, abs=1e-9)


def test_higher_orders_learn_a_repeating_pattern():
    pattern = np.array([5, 1, 1, 3, 1, 4, 1, 1, 2, 0], dtype=np.uint8)
    train = [np.tile(pattern, 30) for _ in range(4)]
    held_out = [np.tile(pattern, 5)]
    nll = KneserNey(max_order=6, vocab=8).fit(train).nll_by_order(held_out)
    assert nll[0] > 1.0  # unigrams cannot know what comes next
    assert nll[5] < 0.1  # with enough history it is nearly certain
    assert all(b <= a + 1e-9 for a, b in zip(nll, nll[1:]))  # more history never hurts here


def test_unseen_tokens_keep_a_probability():
    kn = KneserNey(max_order=3, vocab=10).fit([np.array([1, 2, 3, 1, 2, 3])])
    assert np.isfinite(kn.nll_by_order([np.array([1, 2, 9, 7])])).all()
