"""Export a trained classifier to ONNX: one file that runs without genclf (onnxruntime, or any ONNX runtime).

The exported graph takes genclf's one input convention (``genclf.data.inputs``): uint8 images 0..255, shape
(batch, C, H, W) with a dynamic batch axis; it scales and normalises inside and returns class probabilities
(batch, K), exactly what ``TrainedClassifier.predict_proba`` returns for the same images. Class names, normalisation and the
input contract are stored in the model's metadata (``metadata_props``).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genclf.errors import ConfigError
from genclf.files import atomic_write
from genclf.pipelines.classify import TrainedClassifier

FORMATS = ("onnx",)


class Probabilities(nn.Module):
    """uint8 images -> [0, 1] -> normalise -> network -> softmax."""

    def __init__(self, trained: TrainedClassifier):
        super().__init__()
        self.model = trained.model
        self.register_buffer("mean", torch.tensor(trained.normalization.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(trained.normalization.std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.float() / 255.0
        return torch.softmax(self.model((pixels - self.mean) / self.std).float(), dim=1)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError("--format onnx", f"needs the '{module}' package: pip install 'genclf[export]'") from None


def export_onnx(trained: TrainedClassifier, path: str | Path) -> dict:
    """Write ``path`` (atomically) and check it against PyTorch with onnxruntime; returns the metadata
    and the measured max |probability difference| on a random batch."""
    onnx = _require("onnx")
    ort = _require("onnxruntime")
    _require("onnxscript")
    path = Path(path)
    wrapper = Probabilities(trained).eval().cpu()
    shape = (trained.channels, trained.image_size, trained.image_size)
    example = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    meta = {
        "genclf_model": trained.name,
        "genclf_class_names": json.dumps(trained.class_names),
        "genclf_normalization": json.dumps({"mean": trained.normalization.mean, "std": trained.normalization.std}),
        "genclf_input": f"uint8 images 0..255, shape (batch, {', '.join(map(str, shape))})",
        "genclf_output": "float32 class probabilities, shape (batch, num_classes), in genclf_class_names order",
    }

    def write(tmp: Path) -> None:
        scratch = tmp.with_name(tmp.name + ".export.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (example,),
                str(scratch),
                input_names=["images"],
                output_names=["probabilities"],
                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                dynamo=True,
                verbose=False,
            )
        model = onnx.load(str(scratch))
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        os.remove(scratch)

    atomic_write(path, write)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = torch.randint(0, 256, (7, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = wrapper(batch).numpy()
    got = session.run(None, {"images": batch.numpy()})[0]
    return {**meta, "max_abs_prob_diff": float(np.abs(got - expected).max())}
