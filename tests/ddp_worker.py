"""Run by tests/test_scale.py under torchrun: train on digits, then dump this rank's weights."""

import sys
from pathlib import Path

import torch

from genclf.classify import save_classifier, train_classifier
from genclf.data import load_dataset, make_split
from genclf.training import distributed
from genclf.training.trainer import TrainConfig

out = Path(sys.argv[1])
split = make_split(load_dataset("digits"), 0)
trained, result = train_classifier(split, "cnn", TrainConfig(epochs=2, batch_size=32, precision="fp32"), 0, quiet=True)
torch.save(trained.model.state_dict(), out / f"weights_rank{distributed.rank()}.pt")  # plain torch.save: every rank
save_classifier(out / "ckpt", trained)  # genclf's writer: rank 0 only
(out / f"history_rank{distributed.rank()}.txt").write_text(repr(result.history))
