"""Fuzzing every reader: arbitrary bytes and small arrays give a dataset, a config or a GenclfError, never
another exception (bounded examples, so it stays fast in CI)."""

from __future__ import annotations

import contextlib
import gzip
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genclf.config import RunConfig, load_config
from genclf.data import load_dataset
from genclf.errors import GenclfError
from genclf.training.checkpoint import check_meta

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _either_loads_or_says_why(load) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(GenclfError):
            load()


@FUZZ
@given(data=st.binary(max_size=300), gz=st.booleans(), labels=st.binary(max_size=40))
def test_idx_bytes(tmp_path_factory, data, gz, labels):
    folder = tmp_path_factory.mktemp("idx")
    writer = gzip.compress if gz else bytes
    suffix = ".gz" if gz else ""
    (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(writer(data))
    (folder / f"train-labels-idx1-ubyte{suffix}").write_bytes(writer(labels))
    _either_loads_or_says_why(lambda: load_dataset(f"idx:{folder}"))


@FUZZ
@given(n=st.integers(1, 12), h=st.integers(0, 4), w=st.integers(0, 4))
def test_idx_headers(tmp_path_factory, n, h, w):
    folder = tmp_path_factory.mktemp("idxh")
    (folder / "train-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, n, h, w) + bytes(n * h * w))
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, n) + bytes(range(n)))
    _either_loads_or_says_why(lambda: load_dataset(f"idx:{folder}"))


@FUZZ
@given(
    x=arrays(st.sampled_from([np.uint8, np.float32, np.int64, np.uint16]), st.tuples(*[st.integers(0, 5)] * 3)),
    y=arrays(st.sampled_from([np.int64, np.float64, np.uint8]), st.integers(0, 6)),
)
def test_npz_arrays(tmp_path_factory, x, y):
    path = tmp_path_factory.mktemp("npz") / "a.npz"
    np.savez(path, x=x, y=y)
    _either_loads_or_says_why(lambda: load_dataset(f"npz:{path}"))


@FUZZ
@given(data=st.binary(max_size=400))
def test_npz_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npzb") / "a.npz"
    path.write_bytes(data)
    _either_loads_or_says_why(lambda: load_dataset(f"npz:{path}"))


@FUZZ
@given(data=st.binary(min_size=1, max_size=300), name=st.sampled_from(["x.png", "x.jpg", "x.gif", "x.bin", "x"]))
def test_image_file_bytes_in_a_folder(tmp_path_factory, data, name):
    root = write_folder(tmp_path_factory.mktemp("folder") / "f", n_per_class=3)
    (root / "cat" / name).write_bytes(data)
    _either_loads_or_says_why(lambda: load_dataset(f"folder:{root}"))


@FUZZ
@given(data=st.binary(max_size=300))
def test_yaml_config_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("yaml") / "c.yaml"
    path.write_bytes(data)
    _either_loads_or_says_why(lambda: load_config(RunConfig, path))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from(["train", "data", "seeds", "strategies", "evaluation", "generator_pool", "x"]), JSON, max_size=4
    )
)
def test_yaml_config_values(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("yamlv") / "c.yaml"
    path.write_text(json.dumps(values))  # JSON is YAML
    _either_loads_or_says_why(lambda: load_config(RunConfig, path))


@FUZZ
@given(
    meta=st.fixed_dictionaries(
        {},
        optional={
            "model": JSON,
            "model_options": JSON,
            "in_channels": JSON,
            "image_size": JSON,
            "class_names": JSON,
            "normalization": JSON,
        },
    )
)
def test_checkpoint_metadata(meta):
    try:
        check_meta(Path("ckpt"), meta)
    except GenclfError:
        return
    # accepted metadata is fit to build a network from
    assert meta["in_channels"] in (1, 3) and 4 <= meta["image_size"] <= 512


@pytest.mark.parametrize("text", ["seeds: [1, 2", "train: !!python/object:os.system x", "- a\n- b"])
def test_yaml_edge_cases_are_clear_errors(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(GenclfError):
        load_config(RunConfig, path)
