"""Inference throughput: genclf's predict path vs a plain PyTorch eval loop vs onnxruntime, same model.

A cnn trained briefly on MNIST (../shared/datasets); the 10,000 test images are classified in batches of 512
by (1) genclf: ``TrainedClassifier.predict_proba`` on uint8 images (the path `genclf predict` uses after
decoding files), (2) plain: pre-normalised float tensors, ``model.eval()``, ``torch.inference_mode()``,
softmax, (3) onnxruntime on the model written by ``genclf export``. Interleaved rounds; medians.

    python bench/predict_throughput.py [--rounds 5]

Writes bench/results/predict_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.pipelines.classify import train_classifier
from genclf.pipelines.export import export_onnx
from genclf.training.fit import Fit

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = f"idx:{ROOT.parents[1] / 'shared' / 'datasets' / 'mnist'}"


def timed(fn) -> tuple[float, np.ndarray]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "predict_throughput.json")
    args = parser.parse_args()
    import onnxruntime as ort

    split = make_split(load_dataset(args.data), 0)
    trained, _ = train_classifier(
        split, "cnn", Fit(TrainConfig(epochs=1, batch_size=128, precision="fp32"), 0, quiet=True)
    )
    images, batch = split.test.images, args.batch_size
    model = trained.model.eval()
    normalised = split.normalization.apply(images)
    pixels = images.float().numpy() / 255.0

    def genclf_predict() -> np.ndarray:
        return trained.predict_proba(images, batch_size=batch)

    def plain() -> np.ndarray:
        with torch.inference_mode():
            return torch.cat(
                [torch.softmax(model(normalised[i : i + batch]), 1) for i in range(0, len(normalised), batch)]
            ).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(trained, Path(tmp) / "model.onnx")
        session = ort.InferenceSession(str(Path(tmp) / "model.onnx"), providers=["CPUExecutionProvider"])

    def onnx() -> np.ndarray:
        return np.concatenate(
            [session.run(None, {"images": pixels[i : i + batch]})[0] for i in range(0, len(pixels), batch)]
        )

    runners = {"genclf_predict": genclf_predict, "plain_pytorch_eval": plain, "onnxruntime": onnx}
    for fn in runners.values():
        fn()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    outputs = {}
    for round_index in range(args.rounds):
        for name, fn in runners.items():
            elapsed, outputs[name] = timed(fn)
            seconds[name].append(elapsed)
        print(
            f"round {round_index + 1}: "
            + ", ".join(f"{n} {len(images) / s[-1]:.0f} img/s" for n, s in seconds.items()),
            flush=True,
        )
    table = {name: len(images) / statistics.median(s) for name, s in seconds.items()}
    report = {
        "benchmark": "predict_throughput",
        "data": args.data,
        "model": "cnn",
        "n_images": len(images),
        "batch_size": batch,
        "rounds": args.rounds,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "img_per_s": table,
        "ratio_genclf_over_plain": table["genclf_predict"] / table["plain_pytorch_eval"],
        "ratio_onnxruntime_over_plain": table["onnxruntime"] / table["plain_pytorch_eval"],
        "max_abs_prob_diff_vs_plain": {
            name: float(np.abs(out - outputs["plain_pytorch_eval"]).max()) for name, out in outputs.items()
        },
        "seconds": seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'path':<22}{'img/s':>10}{'ratio':>8}")
    for name, value in table.items():
        print(f"{name:<22}{value:>10.0f}{value / table['plain_pytorch_eval']:>8.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
