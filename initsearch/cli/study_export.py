"""``initsearch study export NAME --format csv|json``: every trial of a study, one row each.

A row holds what the other views show of a trial, by the same names (:mod:`initsearch.labels`,
ranks of :mod:`initsearch.report.ranks`): number, label, role, state, value(s), rank, reason,
the Optuna params, the init (scheme, options), the per-layer scales the spec asked for and the
ones the init applied (by layer name), the seeds, the MLflow run id and the validation curve.

JSON keeps the nesting (``params``, ``spec_scales`` and ``applied_scales`` as objects by name,
``val_accuracy_curve`` as a list). CSV is flat, one column per number, so that a spreadsheet or
``pandas.read_csv`` can plot or filter it without parsing cells: ``param:<name>``,
``spec_scale:<layer>``, ``applied_scale:<layer>`` and ``val_accuracy:epoch_<k>`` (a pruned
trial's later epochs are empty). The curve has as many columns as the study's longest run, a
number the study fixes (``train.epochs``), so the header is stable. Lists that are identifiers
rather than numbers to plot (``seeds``, ``values``, ``seed_values``, ``init_options``) stay
JSON text in one cell.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
import typer
from optuna.trial import FrozenTrial

from initsearch import contract, jsonsafe
from initsearch.cli.study_args import StorageUrl, StudyRef, Workdir, check_storage
from initsearch.cli.study_summary import by_layer
from initsearch.config import StudyConfig
from initsearch.labels import study_stage, trial_label, trial_role
from initsearch.report.ranks import trial_ranks

ExportFormat = Literal["csv", "json"]
FIELDS = (
    "number",
    "label",
    "role",
    "state",
    "value",
    "values",
    "rank",
    "reason",
    "init_scheme",
    "init_options",
    "seeds",
    "seed_values",
    "mlflow_run_id",
    "datetime_start",
    "datetime_complete",
)
"""The scalar columns, in order; the per-name columns of the CSV follow them."""


def _time(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def trial_row(
    t: FrozenTrial, stage: str, names: list[str], ranks: dict[int, int], seeds: list[int]
) -> dict[str, Any]:
    """One trial as an export object (the JSON layout)."""
    attrs = t.user_attrs
    init = attrs.get(contract.INIT) or {}
    own_seed = attrs.get(contract.SEED)
    return {
        "number": t.number,
        "label": trial_label(attrs, t.number, stage),
        "role": trial_role(attrs, stage),
        "state": t.state.name.lower(),
        "value": t.values[0] if t.values else None,
        "values": list(t.values) if t.values else None,
        "rank": ranks.get(t.number),
        "reason": attrs.get(contract.REASON),
        "init_scheme": init.get("scheme") or attrs.get(contract.BASELINE),
        "init_options": init.get("options") or {},
        "seeds": [int(own_seed)] if own_seed is not None else seeds,
        "seed_values": attrs.get(contract.SEED_VALUES),
        "mlflow_run_id": attrs.get(contract.MLFLOW_RUN_ID),
        "datetime_start": _time(t.datetime_start),
        "datetime_complete": _time(t.datetime_complete),
        "params": dict(t.params),
        "spec_scales": by_layer(init.get("scales"), names),
        "applied_scales": by_layer(attrs.get(contract.APPLIED_SCALES), names),
        "val_accuracy_curve": [float(v) for v in attrs.get(contract.VAL_ACCURACY_CURVE) or []],
    }


def export_rows(cfg: StudyConfig, study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial of ``study``, in trial order (the JSON layout)."""
    trials = study.get_trials(deepcopy=False)
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    ranks = trial_ranks(trials, maximise)
    names = list(study.user_attrs.get(contract.STUDY_LAYER_NAMES) or [])
    stage, seeds = study_stage(study.user_attrs), list(cfg.budget.seeds)
    return [trial_row(t, stage, names, ranks, seeds) for t in trials]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The flat CSV of export rows (see the module docstring for its columns)."""

    def names(key: str) -> list[str]:
        return list(dict.fromkeys(name for row in rows for name in row[key]))

    params, spec, applied = names("params"), names("spec_scales"), names("applied_scales")
    epochs = max((len(row["val_accuracy_curve"]) for row in rows), default=0)
    header = [
        *FIELDS,
        *(f"param:{p}" for p in params),
        *(f"spec_scale:{s}" for s in spec),
        *(f"applied_scale:{s}" for s in applied),
        *(f"val_accuracy:epoch_{k + 1}" for k in range(epochs)),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        curve = row["val_accuracy_curve"]
        writer.writerow(
            [
                *(_cell(row[f]) for f in FIELDS),
                *(_cell(row["params"].get(p)) for p in params),
                *(_cell(row["spec_scales"].get(s)) for s in spec),
                *(_cell(row["applied_scales"].get(s)) for s in applied),
                *(_cell(curve[k] if k < len(curve) else None) for k in range(epochs)),
            ]
        )
    return out.getvalue()


def export(
    study: StudyRef,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="csv: flat, one column per param, layer scale and epoch; json: a list of "
            "objects with params, spec_scales, applied_scales (by layer name) and "
            "val_accuracy_curve nested",
        ),
    ] = "csv",
    output: Annotated[
        str | None, typer.Option(help="file to write (default: standard output)")
    ] = None,
    workdir: Workdir = "runs",
    storage: StorageUrl = None,
) -> None:
    """Every trial of a study, one row each: label, role, state, value, rank, reason, params,
    per-layer spec and applied scales, seeds, MLflow run id and validation curve."""
    from initsearch.search.locate import journal_note, locate_study

    check_storage(study, storage)
    cfg, found = locate_study(study, workdir=workdir, storage=storage)
    note = journal_note(found)
    if note:
        typer.echo(note, err=True)
    rows = export_rows(cfg, found)
    text = to_csv(rows) if fmt == "csv" else jsonsafe.dumps(rows, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    Path(output).write_text(text)
    typer.echo(f"wrote {len(rows)} trials of {found.study_name} to {output}", err=True)
