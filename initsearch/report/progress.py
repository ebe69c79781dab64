"""The progress display shared by commands that run many trials (study start, compare,
confirm): a bar of finished trials, the time left, and a free-text ``info`` field that names
the last result as every view names it ("last: searched #14 0.912", "compare: xavier seed 2
0.87").

The time left is this run's pace: the time since the bar began (:func:`begin`) over the trials
finished since then, times the trials left. Rich's own estimate averages only the last 30 s,
which holds no two finished trials when trials take minutes; and a resumed study's earlier
trials, finished before the bar began, must not count as this run's speed.
"""

from __future__ import annotations

from datetime import timedelta

import optuna
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from initsearch.labels import STAGE_SEARCH, trial_label
from initsearch.run.driver import StudyProgress
from initsearch.stores import open_storage


class TimeLeftColumn(ProgressColumn):
    """Time left at this run's pace (see the module docstring); ``-:--:--`` before the first
    trial of the run finishes."""

    def render(self, task: Task) -> Text:
        start = int(task.fields.get("start_done", 0))
        done = task.completed - start
        if task.total is None or not task.elapsed or done <= 0:
            return Text("-:--:-- left", style="progress.remaining")
        left = task.elapsed / done * max(task.total - task.completed, 0)
        return Text(f"{timedelta(seconds=round(left))} left", style="progress.remaining")


def trials_progress(console: Console) -> Progress:
    """A bar of finished trials with a free-text ``info`` field (best value, states, last)."""
    fixed = Column(no_wrap=True)  # in a narrow terminal the info is cut short, not the times
    return Progress(
        TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=20),
        MofNCompleteColumn(table_column=fixed),
        TextColumn(
            "{task.fields[info]}",
            table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=10),
        ),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        TimeLeftColumn(table_column=Column(no_wrap=True)),
        console=console,
        expand=True,
    )


def begin(progress: Progress, task: TaskID, done: int, info: str) -> None:
    """Start the clock of ``task`` now, at ``done`` trials already finished (a resumed run)."""
    progress.reset(task, completed=done, start=True, info=info, start_done=done)


def last_result(study: optuna.Study, p: StudyProgress, stage: str = STAGE_SEARCH) -> str:
    """The last finished trial by its label and value ("last: searched #14 0.912"); a label
    of a comparison or confirmation says its stage itself ("compare: xavier seed 2 0.87")."""
    last = p.last
    if last is None:
        return ""
    trials = study.get_trials(deepcopy=False)
    trial = next((t for t in reversed(trials) if t.number == last.trial_number), None)
    attrs = trial.user_attrs if trial is not None else {}
    label = trial_label(attrs, last.trial_number, stage)
    if last.state == "complete" and last.values:
        result = f"{last.values[0]:.4g}"
    else:
        result = last.state + (f" ({last.reason})" if last.reason else "")
    return f"{'last: ' if stage == STAGE_SEARCH else ''}{label} {result}"


class LastResult:
    """:func:`last_result` of a study opened on first use, by name and storage URL: for the
    comparison and confirmation, whose study their driver creates."""

    def __init__(self, name: str, storage_url: str, stage: str) -> None:
        self.name, self.storage_url, self.stage = name, storage_url, stage
        self._study: optuna.Study | None = None

    def __call__(self, p: StudyProgress) -> str:
        if self._study is None:
            self._study = optuna.load_study(
                study_name=self.name, storage=open_storage(self.storage_url)
            )
        return last_result(self._study, p, self.stage)
