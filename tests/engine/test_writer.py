"""Resume states written in a background thread: snapshot semantics, errors, joins, `train.checkpoint_every`."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import two_class_sets

from finegrain.engine import writer as writer_mod
from finegrain.engine.loop import run_epochs
from finegrain.engine.writer import StateWriter, cpu_copy
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit


def test_the_snapshot_is_taken_at_save_time_and_written_in_another_thread(tmp_path, monkeypatch):
    weights = torch.zeros(4)
    started, release, threads = threading.Event(), threading.Event(), []
    real_save = writer_mod.save_state

    def slow_save(path, state):
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        real_save(path, state)

    monkeypatch.setattr(writer_mod, "save_state", slow_save)
    w = StateWriter()
    w.save(tmp_path / "s.pt", {"w": weights, "rows": [{"a": 1}]})
    started.wait(10)
    weights += 1  # the training thread goes on changing the weights in place while the write is in flight
    assert not (tmp_path / "s.pt").exists()
    release.set()
    w.wait()
    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    assert torch.equal(saved["w"], torch.zeros(4)) and saved["rows"] == [{"a": 1}]
    assert threads == ["state-writer"]


def test_cpu_copy_shares_no_storage():
    state = {"a": [torch.ones(2), (torch.ones(1), 3)], "b": "x"}
    copy = cpu_copy(state)
    state["a"][0] += 1
    state["a"][1][0].add_(1)
    assert copy["a"][0].tolist() == [1.0, 1.0] and copy["a"][1][0].tolist() == [1.0] and copy["a"][1][1] == 3


def test_a_failed_write_is_raised_on_the_loop_thread_and_leaves_the_previous_state(tmp_path, monkeypatch):
    w = StateWriter()
    w.save(tmp_path / "s.pt", {"epoch": 1})
    w.wait()

    def full_disk(path, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_mod, "save_state", full_disk)
    w.save(tmp_path / "s.pt", {"epoch": 2})
    with pytest.raises(OSError, match="No space left"):
        w.wait()
    w.wait()  # raised once
    assert torch.load(tmp_path / "s.pt", weights_only=True) == {"epoch": 1}


def test_an_error_in_an_epoch_still_lets_the_write_in_flight_finish(tmp_path, monkeypatch):
    real_save, release = writer_mod.save_state, threading.Event()

    def slow_save(path, state):
        release.wait(10)
        real_save(path, state)

    monkeypatch.setattr(writer_mod, "save_state", slow_save)

    def step(epoch):
        if epoch.index == 1:
            release.set()
            raise KeyboardInterrupt  # Ctrl-C in epoch 2: epoch 1's state must be on disk when it propagates
        return {"loss": 1.0}

    with pytest.raises(KeyboardInterrupt):
        run_epochs(step, 3, 0, state={}, state_path=tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True)["epoch"] == 1


def _fit(path, monkeypatch=None, stop_after_saves: int | None = None, **kw):
    cfg = TrainCfg(data="prepared", init="none", batch_size=8, optimizer="sgd", augment="none", image_size_px=24, **kw)
    saves = []
    if monkeypatch is not None:
        real_save = writer_mod.save_state

        def counting(p, state):
            real_save(p, state)
            saves.append(state["epoch"])
            if len(saves) == stop_after_saves:
                raise KeyboardInterrupt  # dies right after this state is on disk (raised at the loop's next wait)

        monkeypatch.setattr(writer_mod, "save_state", counting)
    seed_everything(0)
    model = create_model("small_cnn", 2)
    try:
        history, best = fit(model, *two_class_sets(), cfg, 0, torch.device("cpu"), path)
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()
    return history, best, saves, model


def test_checkpoint_every_saves_every_nth_epoch_and_the_last(tmp_path, monkeypatch):
    _, _, saves, _ = _fit(tmp_path / "a.pt", monkeypatch, epochs=5, lr=0.05, checkpoint_every=2)
    assert saves == [2, 4, 5]


def test_a_stale_best_is_carried_by_the_state_and_restored_exactly_on_resume(tmp_path, monkeypatch):
    """lr 1e-4: the weights move, val accuracy never beats epoch 1's, so the states of epochs 2-4 carry the
    epoch-1 weights as best_model (the state of a best epoch itself carries them once, as `model`)."""
    kw = dict(epochs=4, lr=1e-4, checkpoint_every=1)
    ref, ref_best, _, model = _fit(tmp_path / "ref.pt", **kw)
    assert ref.best_epoch == 1
    assert not all(torch.equal(v, ref_best[k]) for k, v in model.state_dict().items())  # best != last weights
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "r.pt", monkeypatch, stop_after_saves=2, **kw)
    saved = torch.load(tmp_path / "r.pt", weights_only=True)
    assert saved["epoch"] == 2 and saved["run"]["best"][0] == 1
    assert set(saved["run"]["best_model"]) == set(ref_best)
    resumed, best, _, _ = _fit(tmp_path / "r.pt", **kw)
    assert [r["val_loss"] for r in resumed.rows] == [r["val_loss"] for r in ref.rows]
    assert resumed.best_epoch == 1
    for key, value in ref_best.items():
        assert torch.equal(best[key], value), key
