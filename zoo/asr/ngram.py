"""Word n-gram language models for CTC beam search: interpolated modified Kneser-Ney, written as an ARPA file.

Pure Python (no `lmplz`): `build_ngram_lm(sentences, order=3)` counts the n-grams of the normalised sentences and
estimates an interpolated modified Kneser-Ney model (Chen & Goodman, 1998), the recipe KenLM's `lmplz` follows;
`NgramLM.write_arpa(path)` writes it in the ARPA format `kenlm.Model(path)` loads, and pyctcdecode's beam search
with it (see `zoo.asr.lm`, `zoo lm`).

The estimate, for an n-gram `h w` (context `h`, `n - 1` words; `h'` is `h` without its first word):

    a(h w)      adjusted count: the raw count at the highest order and for n-grams starting with <s> (nothing can
                precede them); otherwise the number of distinct words seen right before `h w` (continuation count)
    D_n(c)      discount of order n for an adjusted count c of 1, 2, or 3 and more, from the count-of-counts t_k:
                Y = t1 / (t1 + 2 t2), D(1) = 1 - 2Y t2/t1, D(2) = 2 - 3Y t3/t2, D(3+) = 3 - 4Y t4/t3
    p(w | h)    = (a(h w) - D(a(h w))) / sum_x a(h x)  +  gamma(h) p(w | h')
    gamma(h)    = (D(1) N1(h) + D(2) N2(h) + D(3+) N3+(h)) / sum_x a(h x), N_k(h) the words after h of adjusted count k

and at the bottom p(w) interpolates with the uniform distribution over the vocabulary (every word, </s> and
<unk>). In the ARPA file every listed n-gram carries log10 p(w | h) and every context its log10 gamma(h) as the
back-off weight, so an unlisted `h w` scores gamma(h) p(w | h'), exactly the interpolated value. Each p(. | h)
sums to one over the vocabulary (<s> is never predicted: its probability is written as -99, the ARPA convention).

Sentences are padded with one <s> and one </s>; words are what `normalize_text` keeps (lower case, apostrophes).

>>> lm = build_ngram_lm(["the cat sat", "the cat ran", "a dog sat"], order=2)
>>> lm.counts()
[9, 9]
>>> round(10 ** lm.log10_prob("cat", ("the",)), 3), round(10 ** lm.log10_prob("dog", ("the",)), 3)
(0.559, 0.059)
>>> round(sum(10 ** lm.log10_prob(w, ("the",)) for w in lm.vocabulary()), 6)  # a distribution over the vocabulary
1.0
"""

from __future__ import annotations

import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from .processing_asr import normalize_text

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
# what lmplz --discount_fallback uses when a tiny corpus leaves a count-of-counts at zero
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
NO_PROBABILITY = -99.0  # log10 "probability" of <s>, which the model never predicts (ARPA convention)


class NgramLM:
    """An estimated n-gram model: log10 probabilities and back-off weights per order, as written to ARPA.

    Args:
        order: the highest n-gram order.
        probs: `probs[n - 1]` maps each listed n-gram (a tuple of n words) to its log10 probability.
        backoffs: `backoffs[n - 1]` maps each n-gram that is a context of a listed (n + 1)-gram to its log10
            back-off weight; other n-grams back off with weight 1 (log10 0).
        discounts: `discounts[n - 1]` is the order's `(D(1), D(2), D(3+))`.
    """

    def __init__(self, order: int, probs: list[dict], backoffs: list[dict], discounts: list[tuple[float, float, float]]):
        self.order = order
        self.probs = probs
        self.backoffs = backoffs
        self.discounts = discounts

    def counts(self) -> list[int]:
        """The number of listed n-grams of each order, unigrams first (<s>, </s> and <unk> included)."""
        return [len(table) for table in self.probs]

    def vocabulary(self) -> list[str]:
        """Every word the model predicts: the training words, </s> and <unk> (not <s>)."""
        return [gram[0] for gram in self.probs[0] if gram[0] != BOS]

    def words(self) -> list[str]:
        """The training words only (no <s>, </s>, <unk>): the unigram list a CTC beam search completes words from."""
        return sorted(w for (w,) in self.probs[0] if w not in (BOS, EOS, UNK))

    def log10_prob(self, word: str, context: tuple[str, ...] = ()) -> float:
        """log10 p(word | context) by the ARPA back-off rule, as kenlm scores it; unknown words score as <unk>.

        Args:
            word: the predicted word (</s> for the end of the sentence).
            context: the preceding words, oldest first; only the last `order - 1` are used; start with <s> for the
                beginning of a sentence.
        """
        unigrams = self.probs[0]
        word = word if (word,) in unigrams else UNK
        context = tuple(w if (w,) in unigrams else UNK for w in context)[max(len(context) - self.order + 1, 0) :]
        penalty = 0.0
        while True:
            gram = context + (word,)
            if gram in self.probs[len(gram) - 1]:
                return penalty + self.probs[len(gram) - 1][gram]
            penalty += self.backoffs[len(context) - 1].get(context, 0.0)
            context = context[1:]

    def sentence_log10_prob(self, sentence: str) -> float:
        """log10 p of a whole sentence, </s> included (what `kenlm.Model.score(sentence)` returns)."""
        history, total = (BOS,), 0.0
        for word in normalize_text(sentence).split() + [EOS]:
            total += self.log10_prob(word, history)
            history = (history + (word,))[-(self.order - 1) :] if self.order > 1 else ()
        return total

    def write_arpa(self, path: str | Path) -> Path:
        """Write the model as an ARPA file (what `kenlm.Model(path)` and pyctcdecode load); returns the path.

        Every line of the orders below the highest carries a back-off weight (0 when the n-gram is no context), so
        that pyctcdecode, which reads the unigram list from the file's three-field lines, finds every word.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write("\\data\\\n")
            for n, count in enumerate(self.counts(), start=1):
                out.write(f"ngram {n}={count}\n")
            for n in range(1, self.order + 1):
                out.write(f"\n\\{n}-grams:\n")
                probs, backoffs = self.probs[n - 1], self.backoffs[n - 1]
                # sorted: a reproducible file for the same text
                if n < self.order:
                    out.writelines(f"{probs[g]:.7g}\t{' '.join(g)}\t{backoffs.get(g, 0.0):.7g}\n" for g in sorted(probs))
                else:
                    out.writelines(f"{probs[g]:.7g}\t{' '.join(g)}\n" for g in sorted(probs))
            out.write("\n\\end\\\n")
        return path


def _discounts(adjusted: dict) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts `(D(1), D(2), D(3+))` of one order from its adjusted counts."""
    t = Counter(min(c, 5) for c in adjusted.values() if c > 0)
    t1, t2, t3, t4 = (t[k] for k in (1, 2, 3, 4))
    if min(t1, t2, t3, t4) == 0:
        return FALLBACK_DISCOUNTS
    y = t1 / (t1 + 2 * t2)
    d = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    # a discount outside (0, k] would give a negative or no probability; lmplz refuses such counts, we fall back
    if not all(0 < dk <= k for dk, k in zip(d, (1, 2, 3))):
        return FALLBACK_DISCOUNTS
    return d


def build_ngram_lm(sentences: Iterable[str], order: int = 3, normalize: bool = True) -> NgramLM:
    """Estimate an interpolated modified Kneser-Ney n-gram model (see the module docstring) from sentences.

    Args:
        sentences: the training text, one sentence (or transcript) per item.
        order: the highest n-gram order, 1 to 6 (3 or 4 for CTC beam search).
        normalize: pass each sentence through `normalize_text` (lower case, letters and apostrophes); False splits
            it on whitespace as it is.

    Returns:
        The `NgramLM`; `.write_arpa(path)` saves it.

    >>> lm = build_ngram_lm(["a b", "a b", "b a"], order=3)
    >>> lm.counts(), sorted(lm.vocabulary())
    ([5, 6, 4], ['</s>', '<unk>', 'a', 'b'])
    >>> lm.log10_prob("b", ("<s>", "a")) > lm.log10_prob("a", ("<s>", "a"))  # seen "a b", never "a a"
    True
    """
    if not 1 <= int(order) <= 6:
        raise ValueError(f"order must be 1 to 6, got {order}; 3 or 4 suit CTC beam search")
    order = int(order)
    intern = sys.intern  # one string object per word type: the n-gram tuples share them

    # 1. raw counts of the highest order, and of the n-grams starting with <s> (no left context) of the others
    top: Counter = Counter()
    starts: list[Counter] = [Counter() for _ in range(order - 1)]
    sentences_seen = 0
    for sentence in sentences:
        words = (normalize_text(sentence) if normalize else sentence).split()
        if not words:
            continue
        sentences_seen += 1
        padded = [BOS] + [intern(w) for w in words] + [EOS]
        # <s>-initial n-grams below the highest order; in a sentence shorter than the order the whole sentence is one
        for n in range(1, min(order - 1, len(padded)) + 1):
            starts[n - 1][tuple(padded[:n])] += 1
        for i in range(len(padded) - order + 1):
            top[tuple(padded[i : i + order])] += 1
    if sentences_seen == 0:
        raise ValueError("no words in the training sentences; pass non-empty text (normalize_text keeps letters and apostrophes)")

    # 2. adjusted counts, highest order first: continuation counts from the distinct n-grams one order up
    adjusted: list[dict] = [dict() for _ in range(order)]
    adjusted[order - 1] = dict(top)
    for n in range(order - 1, 0, -1):
        counts: dict = defaultdict(int)
        for gram in adjusted[n]:  # every (n+1)-gram type, <s>-initial ones included, is one left extension
            counts[gram[1:]] += 1
        for gram, count in starts[n - 1].items():
            counts[gram] += count  # <s>-initial: raw counts (no suffix of a longer n-gram starts with <s>)
        adjusted[n - 1] = dict(counts)
    adjusted[0].pop((BOS,), None)  # <s> is a context only, never predicted
    adjusted[0].setdefault((EOS,), 0)
    adjusted[0].setdefault((UNK,), 0)

    # 3. discounts and, per context, the totals and the counts of words with adjusted count 1, 2, 3+
    discounts = [_discounts(adjusted[n]) for n in range(order)]
    probs: list[dict] = [dict() for _ in range(order)]
    backoffs: list[dict] = [dict() for _ in range(order)]
    vocabulary_size = len(adjusted[0])
    for n in range(1, order + 1):
        d1, d2, d3 = discounts[n - 1]
        totals: dict = defaultdict(float)
        mass: dict = defaultdict(float)  # sum of the discounts taken from each context
        for gram, count in adjusted[n - 1].items():
            context = gram[:-1]
            totals[context] += count
            if count > 0:
                mass[context] += d1 if count == 1 else d2 if count == 2 else d3
        gammas = {context: mass[context] / total for context, total in totals.items() if total > 0}
        lower = probs[n - 2] if n > 1 else None
        table = probs[n - 1]
        for gram, count in adjusted[n - 1].items():
            context = gram[:-1]
            total = totals[context]
            discounted = 0.0 if count == 0 else (count - (d1 if count == 1 else d2 if count == 2 else d3)) / total
            if n == 1:
                backed = gammas.get((), 1.0) / vocabulary_size
            else:
                backed = gammas[context] * 10 ** lower[gram[1:]]
            table[gram] = math.log10(discounted + backed)
        if n > 1:
            backoffs[n - 2] = {context: math.log10(g) for context, g in gammas.items() if g > 0}
    probs[0][(BOS,)] = NO_PROBABILITY
    return NgramLM(order, probs, backoffs, discounts)
