"""A trial's members: one set-up trained from several inits and seeds, an epoch at a time.

A study's trial trains N paired seeds of one init; a pack trains many trials at once. Both are
lists of specs equal but for init and seed, and :func:`run_members` trains such a list either
as one pack (:func:`~initsearch.train.pack.run_pack`: one vectorised model, the fast path on a
GPU and for very small models) or as solo runs advanced one epoch each in turn
(:class:`~initsearch.train.engine.SoloRun`: exactly the curves of ``run_trial``, the better
path for larger models on a CPU; ``benchmarks/seed_pack.py`` measures both). Either way the
caller sees every member once per epoch, together: what a pruner deciding on a trial's mean
curve over its seeds needs.

A trial with its own training function (``TrialSpec.loop.function``) trains through
:func:`~initsearch.train.user_loop.run_user_members` instead, with the same contract.
"""

from __future__ import annotations

from initsearch.data import Dataset
from initsearch.train.engine import SoloRun, TrialResult, load_trial_data, resolve_device
from initsearch.train.pack import PackEpochCallback, check_packable, run_pack
from initsearch.train.spec import TrialSpec
from initsearch.train.user_loop import run_user_members


def run_members(
    specs: list[TrialSpec],
    dataset: Dataset | None = None,
    on_epoch: PackEpochCallback | None = None,
    pack: bool = False,
) -> list[TrialResult]:
    """Train ``specs`` (equal but for init and seed); one result per spec, in order.

    ``on_epoch(epoch, {member index: curve})`` is called once after each epoch with every
    member that finished it and still runs (not diverged, not stopped); it returns the indices
    of the members to stop. ``pack``: train them as one pack (results equal the solo runs' up
    to rounding) instead of as interleaved solo runs (results equal ``run_trial``'s exactly).

    Specs with a training function of their own (``loop.function``) run it, their seeds in
    lockstep (:func:`~initsearch.train.user_loop.run_user_members`); ``pack`` is then ignored,
    as packs are the built-in engine's alone.
    """
    check_packable(specs)
    if specs[0].loop.function is not None:
        return run_user_members(specs, dataset, on_epoch)
    if pack:
        return run_pack(specs, dataset, on_epoch=on_epoch)
    data = load_trial_data(specs[0], dataset, resolve_device(specs[0].device))
    runs = [SoloRun(spec, data) for spec in specs]
    epoch = 0
    while not all(run.finished for run in runs):
        epoch += 1
        active = [k for k, run in enumerate(runs) if not run.finished]
        for k in active:
            runs[k].epoch()
        curves = {k: runs[k].curve for k in active if runs[k].status != "diverged"}
        if on_epoch is not None and curves:
            for k in set(on_epoch(epoch, curves)) & curves.keys():
                runs[k].stop()
    return [run.result() for run in runs]
