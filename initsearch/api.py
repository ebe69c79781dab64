"""The Python API: ``initsearch.run_study`` runs a study from a notebook or a script.

It is what ``initsearch study start`` runs (the command line only parses flags and prints):
check everything the study names before Ray starts, run the baselines and the search, then
the confirmation stage and its verdict. A researcher's model, data and training loop may be
given as callables (``run_study(cfg, model=make_net, data=make_data, train=fit)``), which
stand in for the study file's ``model.factory``, ``data.factory`` and ``train.function``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console

from initsearch.config import StudyConfig, load_study, parse_study
from initsearch.confirm import (
    confirm_dir,
    confirmation_pending,
    judge,
    keep_verdict,
    plan_confirmation,
    run_confirmation,
)
from initsearch.confirm.verdict import Verdict
from initsearch.errors import ConfigError
from initsearch.factories import FactoryRef, add_import_paths, ref_name, resolve
from initsearch.inits import InitSpec
from initsearch.labels import STAGE_CONFIRMATION
from initsearch.models import Discovery, factory_layers
from initsearch.report.progress import LastResult, begin, last_result, trials_progress
from initsearch.run.driver import StudyProgress
from initsearch.run.pool import TrialPool, make_pool
from initsearch.run.signals import keep_stop_signals
from initsearch.run.timing import mark
from initsearch.search.space import LayerInfo, layer_info
from initsearch.search.study import study_driver, study_warming
from initsearch.store_checks import check_stores
from initsearch.stores import storage_url, study_dir, tracking_uri


@dataclass
class StudyRun:
    """What a run of a study left: the Optuna study (every trial, baselines included), the
    search's last progress, and the verdict (None when the confirmation did not run)."""

    config: StudyConfig
    study: optuna.Study
    progress: StudyProgress
    verdict: Verdict | None


OVERRIDES: dict[str, tuple[str, str]] = {
    "trials": ("budget", "trials"),
    "workers": ("ray", "workers"),
    "top_k": ("confirm", "top_k"),
    "confirm_seeds": ("confirm", "seeds"),
}
"""Overrides of ``study_config`` that set a key of a section (``trials``: ``budget.trials``);
any other override sets a top-level key (``workdir``, ``storage``)."""


def study_config(
    config: StudyConfig | Mapping[str, Any] | str | Path,
    *,
    model: FactoryRef | None = None,
    data: FactoryRef | None = None,
    train: FactoryRef | None = None,
    **overrides: Any,
) -> StudyConfig:
    """The study to run: a file, a mapping or a config, with the callables (or references)
    ``model``, ``data`` and ``train`` in place of its factories and training function, and
    ``overrides`` (None: keep the study's), validated like the file itself: ``trials: 0`` fails
    as ``budget.trials: 0`` does. See :data:`OVERRIDES` for the names that set a section's key.
    References are imported from the current folder too (and from a study file's folder)."""
    add_import_paths([Path.cwd()])
    if isinstance(config, StudyConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = parse_study(dict(config), "(mapping)")
    else:
        cfg = load_study(config)
    raw = cfg.model_dump()
    if model is not None:
        raw["model"]["factory"] = model
    if data is not None:
        raw["data"]["factory"] = data
    if train is not None:
        raw["train"]["function"] = train
    given = {k: v for k, v in overrides.items() if v is not None}
    changed = []
    for name, value in given.items():
        section, key = OVERRIDES.get(name, (None, name))
        (raw[section] if section else raw)[key] = value
        changed.append(f"{section}.{key}={value!r}" if section else f"{key}={value!r}")
    source = f"{cfg.name!r} with {', '.join(changed)}" if changed else repr(cfg.name)
    return parse_study(raw, f"(study {source})")


@dataclass(frozen=True)
class CheckedStudy:
    """What checking a study found: its model's layers, and what a researcher should know
    about their own model (layers tracing found reused, never run, or holding parameters no
    init touches; none for a built-in model)."""

    info: LayerInfo
    notes: list[str]


def discovery_notes(label: str, found: Discovery) -> list[str]:
    """The notes on a traced model's layers, one line each."""
    notes = []
    if found.reused:
        notes.append(f"run more than once per forward (one scale each): {', '.join(found.reused)}")
    if found.unused:
        notes.append(f"never ran on a sample batch (not initialised): {', '.join(found.unused)}")
    if found.unsupported:
        notes.append(
            "hold parameters no init touches (left as torch made them): "
            f"{', '.join(found.unsupported)}"
        )
    return [f"model {label}: {note}" for note in notes]


def traced_layers(cfg: StudyConfig) -> CheckedStudy:
    """The study model's layers; a factory model is traced once for its layers and notes."""
    if cfg.model.factory is None:
        return CheckedStudy(layer_info(cfg), [])
    spec = cfg.trial_spec(InitSpec(), cfg.budget.first_seed)
    found = factory_layers(spec.model, spec.data.shape())
    info = LayerInfo(
        tuple(layer.name for layer in found.layers), tuple(layer.depth for layer in found.layers)
    )
    return CheckedStudy(info, discovery_notes(cfg.model.label, found))


def check_study(cfg: StudyConfig, *, stores: bool = True) -> CheckedStudy:
    """Everything the study names, checked before any worker starts: the study's folder is
    writable and its database servers answer (``stores``; ``cluster submit`` passes False: the
    cluster reaches its own stores, checked there), the data (a data factory is called), the
    model (built and traced on a sample batch), the training function (imported). Each problem
    is a one-line ConfigError (naming the factory; passwords redacted). The config itself
    (scheme names, option keys, numbers) was checked when it was parsed."""
    if stores:
        check_stores(
            storage_url(cfg.storage, cfg.workdir, cfg.name),
            tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name),
            study_dir(cfg.workdir, cfg.name),
        )
    model_ref = ref_name(cfg.model.factory)
    try:
        checked = traced_layers(cfg)
    except ConfigError as err:
        text = str(err)
        if model_ref and model_ref not in text and "data factory" not in text:
            raise ConfigError(f"model factory {model_ref!r}: {text}") from None
        raise
    if checked.info.count == 0:
        raise ConfigError(
            f"model {cfg.model.label!r} has no scalable layer (Linear, Conv, attention "
            "projection, Embedding) that runs on a sample batch; there is nothing to initialise"
        )
    if cfg.train.function is not None:
        resolve(cfg.train.function, "training function")
    return checked


def run_study(
    config: StudyConfig | Mapping[str, Any] | str | Path,
    *,
    model: FactoryRef | None = None,
    data: FactoryRef | None = None,
    train: FactoryRef | None = None,
    workdir: str | None = None,
    trials: int | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    inline: bool = False,
    confirm: bool = True,
    console: Console | None = None,
) -> StudyRun:
    """Create (or resume) the study and run it to its verdict; see the module docstring.

    ``inline``: train in this process without Ray (slow, easy to debug). ``confirm``: run
    the confirmation stage when the search's budget is spent (if ``confirm.after_search``).
    Progress goes to ``console`` (stderr by default). Ctrl-C raises KeyboardInterrupt after
    the running trials were marked failed (they run again when the study is resumed); so does
    SIGTERM in a command (``initsearch.run.signals.honour_stop_signals``).
    """
    cfg = study_config(config, model=model, data=data, train=train, workdir=workdir, trials=trials)
    mark("start")
    checked = check_study(cfg)
    err = console or Console(stderr=True)
    for note in checked.notes:
        err.print(note, style="yellow", markup=False, highlight=False)
    with study_warming(cfg):  # while Ray starts
        pool = make_pool(cfg.ray, inline, ray_address, workers)
    mark("ready")
    keep_stop_signals()  # ray.init took SIGTERM for itself: a command's SIGTERM stops cleanly
    try:
        with trials_progress(err) as progress:
            task = progress.add_task(cfg.name, total=cfg.budget.trials, info="starting")

            def show(p: StudyProgress) -> None:
                states = " ".join(f"{k.lower()} {v}" for k, v in sorted(p.states.items()))
                best = f"best {p.best:.4g}" if p.best is not None else "best -"
                last = last_result(driver.study, p)
                info = " | ".join(part for part in (last, best, states) if part)
                progress.update(task, completed=p.done, info=info)

            driver = study_driver(cfg, pool, on_progress=show)
            begin(progress, task, driver.done(), f"{pool.workers} workers")
            final = driver.run()
        mark("search-done")
        verdict = None
        if confirm and cfg.confirm.after_search:
            left = driver.source.remaining()
            if left:
                err.print(
                    f"[yellow]the search stopped with {left} trials of its budget left; no "
                    f"confirmation yet: run `initsearch study confirm {cfg.name}` when it is "
                    "done[/]"
                )
            else:
                verdict = confirm_study(cfg, driver.study, lambda: pool, err)
    finally:
        pool.shutdown()
    return StudyRun(cfg, driver.study, final, verdict)


def confirm_study(
    cfg: StudyConfig,
    study: optuna.Study,
    pool: Callable[[], TrialPool],
    err: Console,
    top_k: int | None = None,
    seeds: int | None = None,
) -> Verdict:
    """Train the confirmation's missing pairs (with a progress bar; ``pool`` is called only
    when there are some, so judging again starts no Ray), then judge and keep the verdict."""
    plan = plan_confirmation(cfg, study, top_k, seeds)
    total, todo = len(plan.compare.schemes) * len(plan.seeds), confirmation_pending(plan)
    err.print(
        f"[bold]{plan.name}[/]: {len(plan.searched)} searched + {len(plan.baselines)} "
        f"baselines x {len(plan.seeds)} fresh seeds = {total} runs on the test split, "
        f"{todo} to train"
    )
    if todo:
        with trials_progress(err) as progress:
            task = progress.add_task(plan.name, total=total, info="")
            begin(progress, task, total - todo, "")
            last = LastResult(plan.compare.name, plan.compare.storage_url, STAGE_CONFIRMATION)

            def show(p: StudyProgress) -> None:
                progress.update(task, completed=p.done, info=last(p))

            run_confirmation(plan, pool(), show)
    verdict = judge(plan)
    path = keep_verdict(plan, verdict, study, confirm_dir(cfg.workdir, cfg.name))
    err.print(f"[dim]verdict kept in {path}[/]")
    return verdict
