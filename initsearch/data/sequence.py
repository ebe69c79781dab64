"""Synthetic token-sequence classification tasks for the Transformer.

Generated from a fixed-seed ``torch.Generator``, so every trial (and every machine) sees the
same sequences; the trial seed deliberately plays no part. Both tasks are exactly
class-balanced (train and test separately), so chance accuracy is 1 / num_classes.

* ``seq_majority``: label = the token that occurs most often (sequences with a tie for the mode
  are discarded). Order-free, needs counting over the whole sequence; the winning margin is
  often a single occurrence.
* ``seq_sorted``: label 1 if the sequence is non-decreasing, 0 if not. Negatives are sorted
  sequences with two unequal tokens swapped, so both classes have the same token statistics and
  only order tells them apart (a bag-of-tokens model is at chance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from initsearch.data.base import Dataset

SEQ_LEN = 32
NUM_TRAIN = 10_000
NUM_TEST = 2_000


@dataclass(frozen=True)
class SequenceTask:
    vocab_size: int
    num_classes: int
    seed: int  # fixed generation seed, not the trial seed


SEQUENCE_TASKS: dict[str, SequenceTask] = {
    "seq_majority": SequenceTask(vocab_size=10, num_classes=10, seed=1_000_003),
    "seq_sorted": SequenceTask(vocab_size=16, num_classes=2, seed=1_000_033),
}


def _majority_candidates(
    n: int, task: SequenceTask, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform random sequences whose most frequent token is unique, labelled by that token."""
    x = torch.randint(0, task.vocab_size, (n, SEQ_LEN), generator=gen)
    counts = torch.nn.functional.one_hot(x, task.vocab_size).sum(dim=1)  # (n, V)
    top2 = counts.topk(2, dim=1).values
    keep = top2[:, 0] > top2[:, 1]
    return x[keep], counts[keep].argmax(dim=1)


def _sorted_candidates(
    n: int, task: SequenceTask, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half sorted sequences (label 1), half sorted-then-one-unequal-swap (label 0)."""
    x = torch.randint(0, task.vocab_size, (n, SEQ_LEN), generator=gen).sort(dim=1).values
    y = torch.randint(0, 2, (n,), generator=gen)
    rows = torch.arange(n)
    i = torch.randint(0, SEQ_LEN, (n,), generator=gen)
    j = torch.randint(0, SEQ_LEN, (n,), generator=gen)
    # Negatives whose drawn pair holds equal tokens would stay sorted: drop them (they are
    # resampled by the caller's loop), so every label-0 sequence is really unsorted.
    keep = (y == 1) | (x[rows, i] != x[rows, j])
    neg = (y == 0) & keep
    xi, xj = x[rows[neg], i[neg]], x[rows[neg], j[neg]]
    x[rows[neg], i[neg]] = xj
    x[rows[neg], j[neg]] = xi
    return x[keep], y[keep]


_CANDIDATES: dict[
    str, Callable[[int, SequenceTask, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
] = {"seq_majority": _majority_candidates, "seq_sorted": _sorted_candidates}


def _balanced(
    name: str, task: SequenceTask, n_total: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw candidates until every class has ``n_total / num_classes`` examples."""
    per_class = n_total // task.num_classes
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    have = torch.zeros(task.num_classes, dtype=torch.int64)
    while bool((have < per_class).any()):
        x, y = _CANDIDATES[name](n_total, task, gen)
        xs.append(x)
        ys.append(y)
        have += torch.bincount(y, minlength=task.num_classes)
    x_all, y_all = torch.cat(xs), torch.cat(ys)
    # First ``per_class`` of each class, in generation order (stable sort keeps that order).
    order = torch.sort(y_all, stable=True).indices
    starts = torch.cumsum(torch.bincount(y_all, minlength=task.num_classes), 0) - have
    pick = torch.cat([order[s : s + per_class] for s in starts.tolist()])
    pick = pick[torch.randperm(len(pick), generator=gen)]
    return x_all[pick], y_all[pick]


def load_sequence(name: str) -> Dataset:
    """Generate one of :data:`SEQUENCE_TASKS`: int64 tokens (N, 32) and balanced labels."""
    task = SEQUENCE_TASKS[name]
    gen = torch.Generator().manual_seed(task.seed)
    x_train, y_train = _balanced(name, task, NUM_TRAIN, gen)
    x_test, y_test = _balanced(name, task, NUM_TEST, gen)
    return Dataset.unsplit(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=task.num_classes,
        kind="sequence",
        vocab_size=task.vocab_size,
    )
