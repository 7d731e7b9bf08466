"""Peer check: genclf's fp32 Trainer vs Keras 3 / TensorFlow training the same cnn on the same data.

The architecture is genclf's ``cnn`` at 28x28 (three stages of [3x3 conv - BN - ReLU] x 2 + 2x2 max-pool,
widths 32/64/128, global average pool, dropout 0.2, linear head), AdamW (lr 2e-3, weight decay 1e-4),
batch 128, fp32, on MNIST from ../shared/datasets. Rounds are interleaved (genclf, Keras, genclf, ...)
so machine noise hits both alike. Keras' first epoch traces the graph: its throughput is taken over the
epochs after the first, and so is genclf's for the same reason (the first epoch warms the allocator).

Runs only where TensorFlow is installed (``pip install tensorflow-cpu``); never in CI. Each Keras round runs
in a process of its own: TensorFlow and torch's Triton crash when loaded into one process. Writes
bench/results/keras_peer.json.

    python bench/keras_peer.py [--epochs 3] [--rounds 2] [--data idx:../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.models import build_classifier
from genclf.pipelines.classify import predict_proba
from genclf.training.trainer import FitPlan, Trainer

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = f"idx:{ROOT.parents[1] / 'shared' / 'datasets' / 'mnist'}"


def keras_cnn(keras, image_size: int, num_classes: int):
    """genclf's cnn, layer for layer (NHWC, TensorFlow's native CPU layout)."""
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, 1))
    h = inputs
    for width in (32, 64, 128):
        for _ in range(2):
            h = layers.Conv2D(width, 3, padding="same", use_bias=False)(h)
            h = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(h)  # PyTorch's momentum 0.1
            h = layers.ReLU()(h)
        h = layers.MaxPooling2D(2)(h)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Dropout(0.2)(h)
    return keras.Model(inputs, layers.Dense(num_classes)(h))


def run_keras(keras, x: np.ndarray, y: np.ndarray, test: tuple, epochs: int, batch: int, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    model = keras_cnn(keras, x.shape[1], int(y.max()) + 1)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=2e-3, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.began)

    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[Clock()])
    steps = len(x) // batch + (1 if len(x) % batch else 0)
    seen = steps * batch if len(x) % batch == 0 else len(x)
    accuracy = float(model.evaluate(*test, batch_size=512, verbose=0)[1])
    return {"img_per_s": seen * (epochs - 1) / sum(times[1:]), "first_epoch_s": times[0], "accuracy": accuracy}


def run_genclf(split, epochs: int, batch: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = build_classifier("cnn", 1, 10, split.train.image_size)
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=2e-3, precision="fp32", weight_decay=1e-4)
    ends = [time.perf_counter()]
    plan = FitPlan(on_epoch_end=lambda epoch, record: ends.append(time.perf_counter()))
    result = Trainer(config, seed=seed, quiet=True).fit(
        model, split.train.images, split.train.labels, split.normalization, plan
    )
    later = np.diff(ends)[1:]  # the epochs after the first
    proba = predict_proba(model, split.test.images, split.normalization)
    return {
        "img_per_s": len(split.train) * len(later) / float(later.sum()),
        "overall_img_per_s": result.images_per_second,
        "accuracy": float((proba.argmax(1) == split.test.labels.numpy()).mean()),
    }


def load_mnist(data: str):
    split = make_split(load_dataset(data), 0, val_fraction=0.0)
    mean, std = split.normalization.mean[0], split.normalization.std[0]
    nhwc = lambda images: ((images.float() / 255 - mean) / std).permute(0, 2, 3, 1).contiguous().numpy()  # noqa: E731
    return split, nhwc


def keras_side(args) -> None:
    """One Keras round in a process of its own (TensorFlow and torch's Triton crash in one process)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    split, nhwc = load_mnist(args.data)
    test = (nhwc(split.test.images), split.test.labels.numpy())
    result = run_keras(
        keras, nhwc(split.train.images), split.train.labels.numpy(), test, args.epochs, args.batch_size, args.seed
    )
    print(json.dumps({**result, "tensorflow": tf.__version__, "keras": keras.__version__}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "keras_peer.json")
    parser.add_argument("--keras-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_side:
        keras_side(args)
        return
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        print("keras_peer: TensorFlow is not installed here (pip install tensorflow-cpu); nothing measured")
        sys.exit(0)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is warm-up)")
    split, _ = load_mnist(args.data)
    runs: dict[str, list[dict]] = {"genclf_fp32": [], "keras_fp32": []}
    versions: dict = {}
    for round_index in range(args.rounds):
        runs["genclf_fp32"].append(run_genclf(split, args.epochs, args.batch_size, round_index))
        command = [sys.executable, __file__, "--keras-side", "--data", args.data, "--epochs", str(args.epochs)]
        command += ["--batch-size", str(args.batch_size), "--seed", str(round_index)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        keras_run = json.loads(done.stdout.strip().splitlines()[-1])
        versions = {"tensorflow": keras_run.pop("tensorflow"), "keras": keras_run.pop("keras")}
        runs["keras_fp32"].append(keras_run)
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]['img_per_s']:.0f} img/s" for k, v in runs.items()))
    table = {
        name: {
            "img_per_s": statistics.median(r["img_per_s"] for r in results),
            "accuracy": statistics.mean(r["accuracy"] for r in results),
        }
        for name, results in runs.items()
    }
    report = {
        "benchmark": "keras_peer",
        "command": " ".join(["python", *sys.argv]),
        "data": args.data,
        "model": "cnn",
        "batch_size": args.batch_size,
        "epochs_per_run": args.epochs,
        "rounds": args.rounds,
        "torch": torch.__version__,
        **versions,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "results": table,
        "ratio_genclf_fp32_over_keras": table["genclf_fp32"]["img_per_s"] / table["keras_fp32"]["img_per_s"],
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'run':<14}{'img/s':>10}{'test acc':>10}")
    for name, row in table.items():
        print(f"{name:<14}{row['img_per_s']:>10.0f}{row['accuracy']:>10.4f}")
    print(f"genclf fp32 / keras fp32: {report['ratio_genclf_fp32_over_keras']:.2f}\nwrote {args.out}")


if __name__ == "__main__":
    main()
