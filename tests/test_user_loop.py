"""A researcher's own training function (TrialSpec.loop): what it receives, what its report
records, seeds in deterministic lockstep, pruning, divergence, the budget, failures, and the
data loader it trains from."""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import replace

import pytest
import torch
from torch import nn

import initsearch.train
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, Curve, DataSpec, LoopSpec, TrialSpec, run_members
from initsearch.train.engine import build_member, evaluate
from initsearch.train.user_loop import StopTrial, run_user_members

EPOCHS = 3


@pytest.fixture(scope="module")
def digits():
    return DataSpec(name="digits").load()


def loop_spec(function, test_split: bool = False, dropout: float = 0.0, **kwargs) -> TrialSpec:
    return TrialSpec(
        model=ModelSpec(name="mlp", depth=1, width=16, dropout=dropout),
        data=DataSpec(name="digits"),
        budget=Budget(epochs=EPOCHS, batch_size=64),
        test_split=test_split,
        loop=LoopSpec(function=function, kwargs=kwargs),
    )


def seeds(spec: TrialSpec, *values: int) -> list[TrialSpec]:
    return [replace(spec, seed=seed) for seed in values]


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("initsearch-loop")]


# --- training functions the specs name -------------------------------------------------------


def report_only(model, data, seed, report):
    """Trains nothing and would go on for ever: the budget ends it."""
    epoch = 0
    while True:
        epoch += 1
        report(epoch)


def sgd_loop(model, data, seed, report, epochs, batch_size, lr):
    """A plain loop over the data set's loader, reporting its mean training loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        for x, y in data.loader("train", batch_size, shuffle=True, seed=seed * 1000 + epoch):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, n = total + loss.item(), n + 1
        report(epoch, train_loss=total / n)


def global_rng_loop(model, data, seed, report, epochs, batch_size):
    """Draws its batch order and dropout masks from torch's global generator."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    n_train = len(data.y_train)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_train)
        for start in range(0, n_train, batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        report(epoch, train_loss=loss.item(), noise=float(torch.rand(())))


def fails_in_second_seed(model, data, seed, report):
    report(1)
    if seed == 2:
        raise ValueError("seed 2 broke")
    report(2)
    report(3)


# --- what the function receives and what report records ---------------------------------------


def test_a_loop_that_reports_only_epochs_gets_measured_validation_curves(digits):
    spec = loop_spec(report_only)
    [result] = run_user_members([spec], digits, None)
    assert result.status == "completed" and result.reason is None
    model, _ = build_member(spec, digits, torch.device("cpu"))
    loss, accuracy = evaluate(model, digits.x_val, digits.y_val, contextlib.nullcontext)
    curve = result.curve
    assert curve.val_loss == [loss] * EPOCHS and curve.val_accuracy == [accuracy] * EPOCHS
    assert curve.test_loss == [] and curve.extra == {}
    assert curve.train_step == [] and all(math.isnan(v) for v in curve.epoch_train_loss)
    assert len(curve.epoch_seconds) == EPOCHS
    assert result.summary.final_val_loss == loss and result.summary.area_under_loss is None
    assert result.spec["loop"]["function"] == "tests.test_user_loop:report_only"
    assert result.num_parameters == sum(p.numel() for p in model.parameters())


def test_reported_metrics_are_kept_as_given_and_missing_test_figures_measured(digits):
    def reports(model, data, seed, report):
        for epoch in (1, 2, 3):
            model.eval()  # the platform's measurement restores the mode it finds
            report(
                epoch,
                val_loss=0.5,
                val_accuracy=torch.tensor(0.25),
                train_loss=2.0 / epoch,
                test_loss=1.5,
                grad_norm=float(epoch),
            )
            assert not model.training

    [result] = run_user_members([loop_spec(reports, test_split=True)], digits, None)
    curve = result.curve
    assert curve.val_loss == [0.5] * 3 and curve.val_accuracy == [0.25] * 3
    assert curve.test_loss == [1.5] * 3 and len(curve.test_accuracy) == 3
    assert 0 <= curve.test_accuracy[0] <= 1
    assert curve.train_step == [1, 2, 3] and curve.train_loss == [2.0, 1.0, 2.0 / 3]
    assert curve.epoch_train_loss == curve.train_loss
    assert curve.extra == {"grad_norm": [1.0, 2.0, 3.0]}
    assert Curve.from_dict(curve.to_dict()) == curve
    # without test_split a reported test figure is not kept (a search sees validation only)
    [plain] = run_user_members([loop_spec(reports)], digits, None)
    assert plain.curve.test_loss == [] and plain.summary.test_loss is None


def test_an_extra_metric_first_reported_late_is_padded_with_nan(digits):
    def late(model, data, seed, report):
        report(1)
        report(2, sharpness=4.0)
        report(3)

    [result] = run_user_members([loop_spec(late)], digits, None)
    values = result.curve.extra["sharpness"]
    assert math.isnan(values[0]) and values[1] == 4.0 and math.isnan(values[2])
    assert Curve.from_dict({"val_loss": [1.0]}).extra == {}  # a curve stored before extras


def test_extras_are_passed_only_when_the_signature_names_them(digits):
    seen = {}

    def named(model, data, seed, report, epochs, lr):
        seen["named"] = (epochs, lr)
        report(1)

    def anything(model, data, *, seed, report, **kwargs):
        seen["anything"] = kwargs
        report(1)

    run_user_members([loop_spec(named)], digits, None)
    run_user_members([loop_spec(anything, width=7)], digits, None)
    assert seen["named"] == (EPOCHS, loop_spec(named).optimizer.lr)
    assert seen["anything"] == {
        "epochs": EPOCHS,
        "device": "cpu",
        "batch_size": 64,
        "lr": loop_spec(named).optimizer.lr,
        "width": 7,
    }


# --- lockstep, pruning, divergence, the budget ------------------------------------------------


def test_seeds_in_lockstep_equal_their_one_seed_runs_exactly(digits):
    spec = loop_spec(global_rng_loop, dropout=0.3)
    pair = run_user_members(seeds(spec, 1, 2), digits, None)
    for seed, result in zip((1, 2), pair, strict=True):
        [alone] = run_user_members(seeds(spec, seed), digits, None)
        mine, theirs = result.curve.to_dict(), alone.curve.to_dict()
        mine.pop("epoch_seconds"), theirs.pop("epoch_seconds")
        assert mine == theirs
    assert pair[0].curve.val_loss != pair[1].curve.val_loss
    assert pair[0].summary.final_accuracy > 0.3  # it does learn
    assert pair[0].summary.no_progress is False  # judged, as the built-in engine judges


def test_the_pruner_stops_one_member_with_stop_trial_and_the_other_goes_on(digits):
    stopped: list[int] = []

    def watched(model, data, seed, report):
        try:
            sgd_loop(model, data, seed, report, EPOCHS, 64, 0.05)
        except StopTrial:
            stopped.append(seed)
            raise

    calls = []

    def on_epoch(epoch, curves):
        calls.append((epoch, sorted(curves)))
        assert all(curve.epochs_done == epoch for curve in curves.values())
        return {1} if epoch == 1 else set()

    results = run_user_members(seeds(loop_spec(watched), 1, 2), digits, on_epoch)
    assert [r.status for r in results] == ["completed", "stopped"]
    assert results[1].reason == "stopped by callback after epoch 1"
    assert [r.curve.epochs_done for r in results] == [3, 1]
    assert stopped == [2, 1]  # pruned after epoch 1; at the budget's last epoch
    assert calls == [(1, [0, 1]), (2, [0]), (3, [0])]


@pytest.mark.parametrize(
    ("metrics", "why"),
    [({"val_loss": math.nan}, "validation loss nan"), ({"train_loss": 1e6}, "training loss")],
)
def test_a_bad_loss_ends_the_member_as_diverged_at_once(digits, metrics, why):
    after: list[int] = []

    def blows_up(model, data, seed, report):
        report(1)
        if seed == 2:
            report(2, **metrics)
            after.append(seed)  # never reached: report raised StopTrial
        report(2)
        report(3)

    shown = []
    results = run_user_members(
        seeds(loop_spec(blows_up), 1, 2), digits, lambda e, c: shown.append(sorted(c)) or ()
    )
    assert [r.status for r in results] == ["completed", "diverged"]
    assert why in results[1].reason and "epoch 2" in results[1].reason
    assert results[1].curve.epochs_done == 1 and after == []
    assert shown == [[0, 1], [0], [0]]


def test_the_budget_ends_a_loop_that_wants_more_and_an_early_return_completes(digits):
    def swallows(model, data, seed, report):
        try:
            report_only(model, data, seed, report)
        except StopTrial:
            return  # swallowing it and returning is fine

    def short(model, data, seed, report):
        report(1)

    [long] = run_user_members([loop_spec(sgd_loop)], digits, None)
    [done] = run_user_members([loop_spec(swallows)], digits, None)
    [early] = run_user_members([loop_spec(short)], digits, None)
    assert long.status == done.status == early.status == "completed"
    assert long.curve.epochs_done == done.curve.epochs_done == EPOCHS
    assert early.curve.epochs_done == 1 and "after 1 of 3 epochs" in early.reason


# --- failures -------------------------------------------------------------------------------


def test_an_exception_in_one_member_ends_the_call_with_no_thread_left(digits):
    with pytest.raises(ValueError, match="seed 2 broke"):
        run_user_members(seeds(loop_spec(fails_in_second_seed), 1, 2, 3), digits, None)
    assert loop_threads() == []

    def fails_at_once(model, data, seed, report):
        raise RuntimeError("no report at all")

    with pytest.raises(RuntimeError, match="no report at all"):
        run_user_members(seeds(loop_spec(fails_at_once), 1, 2), digits, None)
    assert loop_threads() == []


def test_an_exception_in_the_callback_stops_every_member(digits):
    def on_epoch(epoch, curves):
        raise KeyError("pruner broke")

    with pytest.raises(KeyError, match="pruner broke"):
        run_user_members(seeds(loop_spec(report_only), 1, 2), digits, on_epoch)
    assert loop_threads() == []


def test_reporting_mistakes_are_config_errors_naming_the_function(digits):
    def skips(model, data, seed, report):
        report(1)
        report(3)

    def silent(model, data, seed, report):
        return None

    def words(model, data, seed, report):
        report(1, val_loss="low")

    def reserved(model, data, seed, report):
        report(1, epoch_seconds=1.0)

    def swallows_errors(model, data, seed, report):
        with contextlib.suppress(ConfigError):
            report(2)
        report(1)

    cases = [
        (skips, "reported epoch 3 after epoch 1"),
        (silent, "returned without calling report"),
        (words, "must be a number"),
        (reserved, "epoch_seconds"),
        (swallows_errors, "reported epoch 2 after epoch 0"),
    ]
    for function, message in cases:
        with pytest.raises(ConfigError, match=message) as err:
            run_user_members(seeds(loop_spec(function), 1, 2), digits, None)
        assert function.__name__ in str(err.value)
    assert loop_threads() == []


def test_call_mistakes_are_config_errors_before_anything_runs(digits):
    with pytest.raises(ConfigError, match=r"collide.*\['lr'\]|\['lr'\] collide"):
        run_user_members([loop_spec(sgd_loop, lr=0.1)], digits, None)

    def no_report(model, data, seed):
        pass

    with pytest.raises(ConfigError, match="cannot be called as"):
        run_user_members([loop_spec(no_report)], digits, None)
    with pytest.raises(ConfigError, match="no_such_function"):
        run_user_members([loop_spec("tests.test_user_loop:no_such_function")], digits, None)


# --- dispatch and the data loader ------------------------------------------------------------


@pytest.mark.parametrize("pack", [False, True])
def test_run_members_dispatches_to_the_training_function(digits, pack):
    spec = loop_spec("tests.test_user_loop:sgd_loop")
    specs = [*seeds(spec, 1, 2), replace(spec, seed=1, init=InitSpec("xavier"))]
    results = run_members(specs, digits, pack=pack)
    assert [r.status for r in results] == ["completed"] * 3
    assert [r.pack_size for r in results] == [1] * 3
    assert results[0].curve.train_step == [1, 2, 3]
    assert results[0].curve.val_loss != results[2].curve.val_loss  # the init differs
    assert initsearch.train.StopTrial is StopTrial


def test_the_data_set_loader_batches_a_split(digits):
    sequential = list(digits.loader("val", 100))
    assert torch.equal(torch.cat([x for x, _ in sequential]), digits.x_val)
    assert torch.equal(torch.cat([y for _, y in sequential]), digits.y_val)
    assert [len(y) for _, y in sequential][-1] == len(digits.y_val) - 100 * (len(sequential) - 1)
    loader = digits.loader("train", 64, shuffle=True, seed=5)
    first, second = [torch.cat([y for _, y in loader]) for _ in range(2)]
    again = torch.cat([y for _, y in digits.loader("train", 64, shuffle=True, seed=5)])
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert torch.equal(first.sort().values, digits.y_train.sort().values)
    assert len(loader) == math.ceil(len(digits.y_train) / 64)
    with pytest.raises(ConfigError, match="unknown split"):
        digits.loader("validation", 64)
