"""The four questions of a suite, each answered by tables built from ``suite.json``'s
comparisons alone (so the docs can be regenerated from the file), and a one-paragraph
summary counted from the same numbers.

1. depth: arms x depths (with and without batch norm), four metrics, runs that did not train;
2. families: the same over model families (VGG, Transformer...);
3. measure: does the rule raise the emergence measure (two thresholds), does it predict;
4. searched: the confirmation of searched profiles and where they depart from the rule.
"""

from __future__ import annotations

from typing import Any

from initsearch.compare.metrics import FIRST_EPOCH_TEST_ACCURACY, TEST_ACCURACY
from initsearch.suite.measure import measure_tables, rule_arms
from initsearch.suite.searched import searched_tables
from initsearch.suite.tables import Table, arms_by_settings, stat_row

TITLES = {
    "depth": "Depth: does the rule's advantage (or harm) grow with depth, with and without BN?",
    "families": "Families: does it hold for a CNN and a Transformer, with and without norms?",
    "measure": "The measure: does the rule raise it, and does it predict early training?",
    "searched": "Searched vs closed form: where do searched scales depart from the rule?",
}


def _count(comparisons: list[dict[str, Any]], metric: str) -> dict[str, tuple[int, int, int]]:
    """Per arm: settings where it is significantly better / worse than Kaiming / tested."""
    out: dict[str, list[int]] = {}
    for c in comparisons:
        for arm in c["arms"]:
            row = stat_row(c, arm["name"], metric)
            vs = row.get("vs_reference") if row else None
            if vs is None or vs.get("diff") is None:
                continue
            tally = out.setdefault(arm["name"], [0, 0, 0])
            tally[2] += 1
            if vs.get("significant"):
                tally[0 if vs["diff"] > 0 else 1] += 1
    return {k: (a, b, n) for k, (a, b, n) in out.items()}


def _arm_summary(comparisons: list[dict[str, Any]]) -> str:
    """The rule arms' wins and losses against Kaiming; a suite without a rule arm (e.g. one
    about GradInit's budget) gets every arm's."""
    parts = []
    rules = set(rule_arms(comparisons))
    subject = "rule arms" if rules else "the arms (no rule arm here)"
    for metric, name in ((FIRST_EPOCH_TEST_ACCURACY, "first-epoch"), (TEST_ACCURACY, "final")):
        counts = _count(comparisons, metric)
        rule = {k: v for k, v in counts.items() if k in rules or not rules}
        better = sorted(k for k, (a, _, _) in rule.items() if a)
        worse = sum(b for _, b, _ in rule.values())
        tested = sum(n for _, _, n in rule.values())
        wins = sum(a for a, _, _ in rule.values())
        parts.append(
            f"on {name} test accuracy, {subject} beat Kaiming significantly in {wins} of "
            f"{tested} (arm, setting) tests and lost in {worse}"
            + (f" (wins: {', '.join(better)})" if better else "")
        )
    stuck = sum(r["no_progress"] for c in comparisons for a in c["arms"] for r in a["runs"])
    runs = "run" if stuck == 1 else "runs"
    return "; ".join(parts) + f". {stuck} {runs} made no progress."


def _searched_summary(comparisons: list[dict[str, Any]]) -> str:
    said = [
        f"{c['label']}: {c['verdict']['sentence'] if c.get('verdict') else c['verdict_note']}."
        for c in comparisons
        if c.get("verdict") or c.get("verdict_note")
    ]
    return " ".join(said)


def answer(question: str, comparisons: list[dict[str, Any]]) -> str:
    """One paragraph counted from the tables' numbers (no judgement beyond the tests)."""
    if not comparisons:
        return "Not run yet."
    if question in ("depth", "families"):
        return "Counted from the tables: " + _arm_summary(comparisons)
    if question == "searched":
        return _searched_summary(comparisons) or "No confirmation yet."
    return "See the tables: the shifts and the within-arm correlations, per threshold."


def tables_for(question: str, comparisons: list[dict[str, Any]]) -> list[Table]:
    if question == "measure":
        return measure_tables(comparisons)
    if question == "searched":
        return searched_tables(comparisons)
    return arms_by_settings(question, comparisons)


def answer_questions(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``suite.json``'s ``questions``: id, title, answer and tables (as dicts)."""
    out = []
    for question, title in TITLES.items():
        own = [c for c in comparisons if c["question"] == question]
        if question == "measure":
            own = [c for c in comparisons if c["question"] != "searched"]
        tables = tables_for(question, own)
        out.append(
            {
                "id": question,
                "title": title,
                "answer": answer(question, own),
                "settings": [c["name"] for c in own],
                "tables": [t.to_dict() for t in tables],
            }
        )
    return out
