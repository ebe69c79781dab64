"""Trial engine: determinism, curve bookkeeping, divergence, derived figures, callbacks, the
validation and test splits, and the epoch-steppable solo run."""

from __future__ import annotations

import math

import pytest
import torch

from initsearch.data import load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import (
    Budget,
    DataSpec,
    OptimizerSpec,
    SoloRun,
    Summary,
    TrialResult,
    TrialSpec,
    run_trial,
)
from initsearch.train.curve import Curve, area_under_loss, summarize
from initsearch.train.engine import evaluate
from initsearch.train.optim import lr_factor
from initsearch.train.spec import spec_from


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_spec(**overrides) -> TrialSpec:
    base = dict(
        model=ModelSpec(name="mlp", depth=2, width=32),
        data=DataSpec(name="digits"),
        budget=Budget(epochs=3, batch_size=64, log_every=5, target_accuracy=0.5),
        optimizer=OptimizerSpec(name="sgd", lr=0.05),
        seed=1,
    )
    base.update(overrides)
    return TrialSpec(**base)


def test_same_seed_same_curve_on_cpu(digits):
    a = run_trial(small_spec(), dataset=digits)
    b = run_trial(small_spec(), dataset=digits)
    assert a.status == "completed"
    assert a.curve.train_loss == b.curve.train_loss
    assert a.curve.val_accuracy == b.curve.val_accuracy
    c = run_trial(small_spec(seed=2), dataset=digits)
    assert c.curve.train_loss != a.curve.train_loss


def test_curve_bookkeeping(digits):
    result = run_trial(small_spec(), dataset=digits)
    n_train = len(digits.y_train)
    steps_per_epoch = math.ceil(n_train / 64)
    curve = result.curve
    assert curve.epochs_done == 3
    assert len(curve.val_loss) == len(curve.epoch_seconds) == len(curve.epoch_train_loss) == 3
    assert curve.train_step[-1] == 3 * steps_per_epoch
    assert curve.train_step == sorted(curve.train_step)
    # training loss falls and the model learns digits well above chance
    assert curve.epoch_train_loss[-1] < curve.epoch_train_loss[0]
    assert result.summary.final_accuracy > 0.5
    assert result.summary.best_accuracy == max(curve.val_accuracy)
    assert result.summary.epochs_to_target is not None
    assert result.num_parameters > 0


def test_divergence_is_a_result_not_an_exception(digits):
    spec = small_spec(
        optimizer=OptimizerSpec(name="sgd", lr=50.0, momentum=0.9),
        init=InitSpec(scales=(30.0, 30.0, 30.0)),
        budget=Budget(epochs=3, batch_size=64, divergence_loss=50.0),
    )
    result = run_trial(spec, dataset=digits)
    assert result.status == "diverged"
    assert result.diverged_step is not None and result.diverged_step >= 0
    assert "loss" in result.reason
    assert result.curve.epochs_done < 3


def test_callback_can_stop_a_trial(digits):
    seen = []

    def stop_after_first(epoch: int, curve: Curve) -> bool:
        seen.append(epoch)
        return False

    result = run_trial(small_spec(), dataset=digits, on_epoch=stop_after_first)
    assert result.status == "stopped"
    assert seen == [1]
    assert result.curve.epochs_done == 1


def test_adamw_with_warmup_and_cosine(digits):
    spec = small_spec(
        optimizer=OptimizerSpec(name="adamw", lr=3e-3, warmup_epochs=1, schedule="cosine")
    )
    result = run_trial(spec, dataset=digits)
    assert result.status == "completed"
    assert result.summary.final_accuracy > 0.5


def test_lr_schedule_shape():
    total, warm = 100, 10
    factors = [lr_factor(s, total, warm, "cosine") for s in range(total)]
    assert factors[0] == pytest.approx(0.1)
    assert factors[warm - 1] == pytest.approx(1.0)
    assert factors[warm] == pytest.approx(1.0)
    assert factors[-1] < 0.01
    assert all(a >= b for a, b in zip(factors[warm:], factors[warm + 1 :], strict=False))
    assert lr_factor(50, total, 0, "constant") == 1.0


def test_area_under_loss_and_targets():
    curve = Curve(
        train_step=[10, 20],
        train_loss=[2.0, 1.0],
        val_accuracy=[0.3, 0.6, 0.9],
        val_loss=[1.0, 0.8, 0.5],
        epoch_seconds=[1.0, 2.0, 3.0],
    )
    # trapezoid over x = [0, .5, 1] with y = [2, 2, 1] -> (2 + 1.5) / 2 = 1.75
    assert area_under_loss(curve, total_steps=20) == pytest.approx(1.75)
    summary = summarize(curve, total_steps=20, target=0.55)
    assert summary.epochs_to_target == 2
    assert summary.seconds_to_target == pytest.approx(3.0)
    assert summarize(curve, 20, target=0.95).epochs_to_target is None


def test_bad_specs_are_config_errors():
    with pytest.raises(ConfigError, match="optimizer"):
        OptimizerSpec(name="lion")
    with pytest.raises(ConfigError, match="epochs"):
        Budget(epochs=0)
    with pytest.raises(ConfigError, match="scalable layers"):
        run_trial(small_spec(init=InitSpec(scales=(1.0,))), dataset=load_dataset("digits"))


def test_data_spec_loads_its_data_set(digits):
    loaded = DataSpec(name="digits", limit=100).load()
    assert loaded.name == "digits" and len(loaded.y_train) == 100
    assert torch.equal(loaded.x_train, digits.x_train[:100])
    assert torch.equal(loaded.x_val, digits.x_val)
    assert torch.equal(loaded.x_test, digits.x_test)
    half = DataSpec(name="digits", val_fraction=0.5).load()
    n = len(digits.y_train) + len(digits.y_val)
    assert len(half.y_val) == round(0.5 * n) and len(half.y_train) == n - round(0.5 * n)
    with pytest.raises(ConfigError, match="val_fraction"):
        DataSpec(name="digits", val_fraction=1.5).load()


def test_validation_curve_is_measured_on_the_validation_split(digits):
    run = SoloRun(small_spec(), digits)
    run.epoch()  # re-measure the weights after the first epoch on each split
    val = evaluate(run.model, digits.x_val, digits.y_val, run.autocast)
    assert (run.curve.val_loss[0], run.curve.val_accuracy[0]) == pytest.approx(val)
    test = evaluate(run.model, digits.x_test, digits.y_test, run.autocast)
    assert test != pytest.approx(val)


def test_test_split_only_when_asked(digits):
    plain = run_trial(small_spec(), dataset=digits)
    assert plain.curve.test_loss == [] and plain.curve.test_accuracy == []
    s = plain.summary
    assert s.test_accuracy is None and s.first_epoch_test_accuracy is None and s.test_loss is None

    judged = run_trial(small_spec(test_split=True), dataset=digits)
    curve = judged.curve
    assert len(curve.test_loss) == len(curve.test_accuracy) == curve.epochs_done == 3
    # measuring the test split changes nothing else
    assert curve.train_loss == plain.curve.train_loss
    assert curve.val_accuracy == plain.curve.val_accuracy
    assert judged.summary.test_accuracy == curve.test_accuracy[-1]
    assert judged.summary.first_epoch_test_accuracy == curve.test_accuracy[0]
    assert judged.summary.test_loss == curve.test_loss[-1]
    assert judged.summary.final_accuracy == curve.val_accuracy[-1]
    assert curve.test_accuracy != curve.val_accuracy  # two different splits


def test_old_dicts_without_test_keys_still_load():
    curve = Curve(val_accuracy=[0.5], val_loss=[1.0], epoch_seconds=[1.0], test_accuracy=[0.4])
    old_curve = {k: v for k, v in curve.to_dict().items() if not k.startswith("test_")}
    assert Curve.from_dict(old_curve).test_accuracy == []
    summary = summarize(curve, 10, None)
    assert summary.test_accuracy == summary.first_epoch_test_accuracy == 0.4
    old_summary = {k: v for k, v in summary.to_dict().items() if "test" not in k}
    again = Summary.from_dict(old_summary)
    assert again.test_accuracy is None and again.test_loss is None
    assert again.final_accuracy == 0.5


def test_solo_run_steps_one_epoch_at_a_time(digits):
    run = SoloRun(small_spec(), digits)
    assert not run.finished and run.curve.epochs_done == 0
    run.epoch()
    assert run.curve.epochs_done == 1 and not run.finished
    run.stop()
    assert run.finished and run.result().status == "stopped"
    stopped = run_trial(small_spec(), dataset=digits, on_epoch=lambda epoch, curve: False)
    assert run.result().curve.train_loss == stopped.curve.train_loss
    full = SoloRun(small_spec(), digits)
    while not full.finished:
        full.epoch()
    full.stop()  # no effect once the budget is spent
    assert full.result().status == "completed"
    assert full.result().curve.val_accuracy == run_trial(small_spec(), digits).curve.val_accuracy


def test_spec_from_picks_field_names_and_nested_specs():
    options = {"lr": 0.1, "epochs": 3, "name": "adamw", "unrelated": 1}
    assert spec_from(OptimizerSpec, options) == OptimizerSpec(name="adamw", lr=0.1)
    assert spec_from(Budget, options) == Budget(epochs=3)
    spec = small_spec(init=InitSpec("emergence", scales=(1.0, 2.0, 1.0), options={"alpha": 1.2}))
    assert spec_from(TrialSpec, spec.to_dict()) == spec
    with pytest.raises(ConfigError, match="learning rate"):
        spec_from(OptimizerSpec, {"lr": 0.0})


def test_result_round_trips_through_its_dict(digits):
    result = run_trial(small_spec(budget=Budget(epochs=1, batch_size=256)), dataset=digits)
    again = TrialResult.from_dict(result.to_dict())
    assert again == result
    assert again.init.applied_scales == result.init.applied_scales == [1.0, 1.0, 1.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_runs(digits):
    result = run_trial(small_spec(device="cuda", bf16=True), dataset=digits)
    assert result.status == "completed"
    assert result.device.startswith("cuda")
