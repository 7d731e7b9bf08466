"""The Trainer: exact resume, NaN guard, early stopping, precision resolution, lr schedule."""

from __future__ import annotations

import pytest
import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.errors import ConfigError, TrainingError
from genclf.models import build_classifier
from genclf.models.output import StepOutput
from genclf.pipelines.classify import train_classifier
from genclf.runtime.precision import resolve_precision
from genclf.training.fit import Fit
from genclf.training.trainer import FitPlan, Trainer


@pytest.fixture(scope="module")
def split():
    return make_split(load_dataset("digits"), 0, k_per_class=30)


class Crash(Exception):
    pass


def test_resume_after_interruption_equals_an_uninterrupted_run(split, tmp_path, monkeypatch):
    config = TrainConfig(epochs=4, batch_size=32, precision="fp32")
    full, full_result = train_classifier(split, "cnn", Fit(config, 5, state_dir=tmp_path / "full", quiet=True))

    real_save = Trainer._save

    def save_then_die_after_epoch_two(self, state_dir, *args):
        real_save(self, state_dir, *args)
        if args[-1].epoch == 2:  # the epoch just saved
            raise Crash

    monkeypatch.setattr(Trainer, "_save", save_then_die_after_epoch_two)
    with pytest.raises(Crash):
        train_classifier(split, "cnn", Fit(config, 5, state_dir=tmp_path / "cut", quiet=True))
    monkeypatch.setattr(Trainer, "_save", real_save)
    resumed, resumed_result = train_classifier(
        split, "cnn", Fit(config, 5, state_dir=tmp_path / "cut", resume=True, quiet=True)
    )
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert resumed_result.history == full_result.history
    assert len(resumed_result.history) == 4


def test_restored_optimizer_moments_keep_a_channels_last_parameters_layout(tmp_path):
    """Saved state is contiguous; a fused AdamW restored onto a channels_last parameter must step exactly as
    the uninterrupted optimizer does (mismatched layouts mix elements in the fused kernel)."""
    from genclf.training.checkpoint import load_state, optimizer_from_flat, optimizer_to_flat, save_state

    torch.manual_seed(0)
    start = torch.randn(8, 3, 3, 3).contiguous(memory_format=torch.channels_last)
    grads = [torch.randn(8, 3, 3, 3).contiguous(memory_format=torch.channels_last) for _ in range(2)]

    def optimizer_for(param):
        return torch.optim.AdamW([param], lr=0.1, fused=True)

    straight = torch.nn.Parameter(start.clone())
    opt = optimizer_for(straight)
    for grad in grads:
        straight.grad = grad.clone()
        opt.step()

    first = torch.nn.Parameter(start.clone())
    opt = optimizer_for(first)
    first.grad = grads[0].clone()
    opt.step()
    flat, meta = optimizer_to_flat(opt, "optim0")
    save_state(tmp_path, {"w": first.detach(), **flat}, {"optimizers": [meta]})
    tensors, saved = load_state(tmp_path)
    resumed = torch.nn.Parameter(tensors["w"].contiguous(memory_format=torch.channels_last))
    opt = optimizer_for(resumed)
    optimizer_from_flat(opt, "optim0", tensors, saved["optimizers"][0])
    assert opt.state[resumed]["exp_avg"].stride() == resumed.stride()
    resumed.grad = grads[1].clone()
    opt.step()
    torch.testing.assert_close(resumed.detach(), straight.detach(), rtol=0, atol=0)


def test_nan_loss_raises_a_clear_training_error(split):
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def training_step(self, batch):
            return StepOutput(self.w * float("nan"))

    with pytest.raises(TrainingError, match="loss became nan at epoch 1, step 1"):
        Trainer(TrainConfig(epochs=1, precision="fp32"), quiet=True).fit(
            Exploding(), split.train.images, split.train.labels, split.normalization
        )


def test_a_log_file_gets_one_line_per_epoch_and_quiet_gets_none(split, capsys):
    config = TrainConfig(epochs=2, batch_size=64, precision="fp32")
    train_classifier(split, "cnn", Fit(config, 0))  # pytest's captured stderr is not a terminal
    lines = [line for line in capsys.readouterr().err.splitlines() if " epoch " in line]
    assert [line.split(":")[0].split()[-1] for line in lines] == ["1/2", "2/2"]
    assert all("train_loss" in line and "val_macro_f1" in line for line in lines)
    train_classifier(split, "cnn", Fit(config, 0, quiet=True))
    assert " epoch " not in capsys.readouterr().err


def test_early_stopping_stops_and_keeps_the_best_epoch(split):
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    model = build_classifier("cnn", 1, 10, 8)
    trainer = Trainer(TrainConfig(epochs=8, batch_size=64, patience=2, precision="fp32"), quiet=True)
    result = trainer.fit(
        model,
        split.train.images,
        split.train.labels,
        split.normalization,
        FitPlan(validate=lambda m: {"macro_f1": next(scores)}),
    )
    assert result.epochs_run == 4 and result.best_epoch == 2


def test_lr_schedule_warms_up_then_decays_to_zero():
    trainer = Trainer(TrainConfig(lr=1.0, warmup_fraction=0.1, precision="fp32"), quiet=True)
    lrs = [trainer.lr_at(step, 100) for step in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] < 0.01


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu).dtype is None
    bf16 = resolve_precision("bf16", cpu)
    assert bf16.dtype == torch.bfloat16 and bf16.channels_last
    assert resolve_precision("auto", cpu).name in ("fp32", "bf16")
    with pytest.raises(ConfigError, match="train.precision"):
        resolve_precision("fp8", cpu)


def test_bf16_training_learns(split):
    trained, _ = train_classifier(
        split, "cnn", Fit(TrainConfig(epochs=4, batch_size=32, precision="bf16"), 0, quiet=True)
    )
    accuracy = (trained.predict_proba(split.test.images).argmax(1) == split.test.labels.numpy()).mean()
    assert accuracy > 0.8
