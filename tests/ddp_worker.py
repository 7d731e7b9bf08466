"""Run by tests/test_scale.py under torchrun: train a classifier or a cgan on digits, then dump this rank's weights."""

import sys
from pathlib import Path

import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.pipelines.classify import save_classifier, train_classifier
from genclf.pipelines.generate import save_generator, train_generator
from genclf.runtime import distributed
from genclf.training.fit import Fit

out, kind = Path(sys.argv[1]), sys.argv[2]
split = make_split(load_dataset("digits"), 0)
config = TrainConfig(epochs=2, batch_size=32, precision="fp32")
if kind == "classifier":
    trained, result = train_classifier(split, "cnn", Fit(config, 0, quiet=True))
    save_classifier(out / "ckpt", trained)  # genclf's writer: rank 0 only
else:
    trained, result = train_generator(split.train, kind, Fit(config, 0, quiet=True))
    save_generator(out / "ckpt", trained)
torch.save(trained.model.state_dict(), out / f"weights_rank{distributed.rank()}.pt")  # plain torch.save: every rank
(out / f"history_rank{distributed.rank()}.txt").write_text(repr(result.history))
