"""ONNX export: parity with PyTorch, dynamic batch, metadata; and device errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from genclf.data import load_dataset  # noqa: E402
from genclf.pipelines.classify import load_classifier  # noqa: E402


@pytest.mark.parametrize("model", ["cnn", "crnn"])
def test_onnx_export_matches_pytorch(cli, tmp_path, model):
    ckpt = tmp_path / "ckpt"
    assert cli("train", "--data", "digits", "--model", model, "--epochs", "1", "--out", ckpt, "--quiet").code == 0
    result = cli("export", "--checkpoint", ckpt, "--format", "onnx", "--out", tmp_path / "model.onnx")
    assert result.code == 0, result.err
    trained = load_classifier(ckpt)
    images = load_dataset("digits").train.images[:33]
    expected = trained.predict_proba(images)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (images, images[:1]):  # dynamic batch axis
        got = session.run(None, {"images": batch.numpy()})[0]  # the API's convention: uint8 0..255
        assert got.shape == (len(batch), 10)
        assert np.abs(got - expected[: len(batch)]).max() < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert meta["genclf_input"].startswith("uint8 images 0..255")
    assert json.loads(meta["genclf_class_names"]) == trained.class_names
    assert json.loads(meta["genclf_normalization"])["mean"] == pytest.approx(trained.normalization.mean)


def test_export_of_a_non_classifier_is_a_one_line_error(cli, tmp_path):
    bad = cli("export", "--checkpoint", tmp_path / "missing", "--out", tmp_path / "m.onnx")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()
