"""Colorization: the shapes dataset, Lab conversion, pix2pix / L1 U-Net, PSNR/SSIM, the CLI, and
colorize_then_classify."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.errors import DataError
from genclf.models.pix2pix import COLORIZERS, grey_lightness, lab_to_rgb, rgb_to_lab, to_grey_rgb
from genclf.pipelines.colorize import load_colorizer, psnr, save_colorizer, ssim, train_colorizer
from genclf.training.fit import Fit

TINY = TrainConfig(epochs=2, batch_size=16, lr=2e-3, precision="fp32")


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes:24")


def test_shapes_is_deterministic_colour_and_prefix_stable(shapes):
    again = load_dataset("shapes:24")
    assert torch.equal(shapes.train.images, again.train.images)
    assert shapes.train.images.shape == (96, 3, 32, 32) and shapes.train.class_counts() == [24] * 4
    small = load_dataset("shapes:5").train
    assert torch.equal(small.images[:5], shapes.train.images[:5])  # image i does not depend on N
    assert shapes.train.class_names == ["fire", "water", "foliage", "sand"]
    image = shapes.train.images.float()
    assert (image[:, 0] - image[:, 2]).abs().mean() > 20  # really colour, not grey


@pytest.mark.parametrize("spec", ["shapes:x", "shapes:1"])
def test_bad_shapes_spec(spec):
    with pytest.raises(DataError, match="shapes:N"):
        load_dataset(spec)


def test_lab_matches_scikit_image_and_round_trips():
    x = torch.rand(3, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    reference = torch.from_numpy(rgb2lab(x.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2).float()
    assert torch.allclose(rgb_to_lab(x), reference, atol=1e-3)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-4)


def test_one_and_three_channel_grey_give_the_same_lightness(shapes):
    grey3 = to_grey_rgb(shapes.train.images[:4])
    assert torch.equal(grey3[:, 0], grey3[:, 1]) and torch.equal(grey3[:, 1], grey3[:, 2])
    assert torch.allclose(grey_lightness(grey3), grey_lightness(grey3[:, :1]), atol=1e-4)


def test_psnr_and_ssim_known_values():
    a = torch.full((2, 3, 16, 16), 100, dtype=torch.uint8)
    b = a + 1
    assert psnr(a, b) == pytest.approx(20 * np.log10(255.0), abs=1e-6)  # MSE 1
    assert ssim(a, a) == pytest.approx(1.0)
    noisy = (a.float() + torch.randn(a.shape, generator=torch.Generator().manual_seed(0)) * 30).clamp(0, 255)
    assert ssim(a, noisy.to(torch.uint8)) < 0.9


@pytest.mark.parametrize("name", COLORIZERS.names())
def test_colorizer_trains_outputs_rgb_and_round_trips(name, shapes, tmp_path):
    options = {"resolution": 48} if name == "unet_pretrained" else {}  # its encoder at 48 px: fast
    trained, result = train_colorizer(shapes.train, name, Fit(TINY, 0, quiet=True), options=options)
    assert np.isfinite(result.history[-1]["train_l1"])
    out = trained.colorize(shapes.train.images[:5])
    assert out.shape == (5, 3, 32, 32) and out.dtype == torch.uint8
    grey = to_grey_rgb(shapes.train.images[:5])
    from_grey = trained.colorize(grey)
    assert torch.equal(from_grey, trained.colorize(grey[:, :1]))  # 1- and 3-channel grey agree
    assert (from_grey.int() - out.int()).abs().float().mean() < 2  # colour in = its grey in, up to 8-bit rounding
    save_colorizer(tmp_path / "c", trained)
    assert torch.equal(load_colorizer(tmp_path / "c").colorize(shapes.train.images[:5]), out)


def test_colorizer_beats_grey_baseline_on_shapes():
    split = make_split(load_dataset("shapes:150"), 0)
    config = TrainConfig(epochs=10, batch_size=32, lr=2e-3, precision="fp32")
    trained, _ = train_colorizer(split.train, "unet_l1", Fit(config, 0, quiet=True))
    test = split.test.images
    assert psnr(test, trained.colorize(test)) > psnr(test, to_grey_rgb(test)) + 0.3


def test_train_colorizer_and_colorize_cli(cli, tmp_path, shapes):
    ckpt = tmp_path / "ckpt"
    result = cli(
        "train-colorizer", "--data", "shapes:12", "--epochs", "1", "--batch-size", "16", "--out", ckpt, "--quiet"
    )
    assert result.code == 0, result.err
    metrics = json.loads((ckpt / "colorizer_metrics.json").read_text())
    assert {"psnr", "ssim", "psnr_grey_baseline", "ssim_grey_baseline"} <= set(metrics)
    assert (ckpt / "strip.png").stat().st_size > 0
    same = ["train-colorizer", "--data", "shapes:12", "--batch-size", "16", "--out", ckpt, "--resume", "--quiet"]
    resumed = cli(*same, "--epochs", "1")  # the same settings: the finished run is found complete
    assert resumed.code == 0, resumed.err
    assert json.loads((ckpt / "model.json").read_text())["epoch"] == 1
    longer = cli(*same, "--epochs", "2")  # another schedule: refused, not silently mixed
    assert longer.code == 2 and "train.epochs: 1 -> 2" in longer.err

    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    colour = shapes.train.images[0].permute(1, 2, 0).numpy()
    Image.fromarray(colour).save(inputs / "photo.jpg")
    Image.fromarray(colour).convert("L").save(inputs / "sub" / "grey1.png")  # 1-channel grey
    Image.fromarray(colour).convert("L").convert("RGB").save(inputs / "grey3.png")  # grey in 3 channels
    out = tmp_path / "out"
    result = cli("colorize", "--checkpoint", ckpt, "--input", inputs, "--out", out)
    assert result.code == 0, result.err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "grey3.png",
        "photo.png",
        "strips/photo.png",
        "sub/grey1.png",
    ]
    one, three = np.asarray(Image.open(out / "sub" / "grey1.png")), np.asarray(Image.open(out / "grey3.png"))
    assert one.shape == (32, 32, 3) and np.abs(one.astype(int) - three.astype(int)).max() <= 2
    assert np.asarray(Image.open(out / "strips" / "photo.png")).shape == (32, 96, 3)

    (inputs / "notes.txt").write_text("not an image")
    bad = cli("colorize", "--checkpoint", ckpt, "--input", inputs / "notes.txt", "--out", tmp_path / "x")
    assert bad.code == 2 and "notes.txt" in bad.err and len(bad.err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    bad = cli("colorize", "--checkpoint", ckpt, "--input", tmp_path / "empty", "--out", tmp_path / "x")
    assert bad.code == 2 and "no image files" in bad.err
    bad = cli("predict", "--checkpoint", ckpt, "--input", inputs, "--out", tmp_path / "x")
    assert bad.code == 2 and "'colorizer'" in bad.err
    bad = cli("train-colorizer", "--data", "digits", "--epochs", "1", "--out", tmp_path / "x", "--quiet")
    assert bad.code == 2 and "colour" in bad.err


def test_colorize_then_classify_writes_four_rows_and_the_recovered_share(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        'data: {spec: "shapes:30", k_per_class: 12}\n'
        "train: {epochs: 3, batch_size: 16, precision: fp32}\n"
        "generator_train: {epochs: 2, batch_size: 16, precision: fp32}\n"
        "strategies: [{name: colorize_then_classify, params: {colorizer: unet_l1}}]\n"
        "seeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    results = pd.read_csv(out / "results.csv")
    assert sorted(set(results["method"])) == ["colorize_then_classify", "colour_input", "grey_input", "grey_trained"]
    assert len(results) == 8
    for seed in (0, 1):
        rows = results[results["seed"] == seed].set_index("method")["accuracy"]
        share = results[(results["seed"] == seed) & (results["method"] == "colorize_then_classify")]["recovered_share"]
        drop = rows["colour_input"] - rows["grey_input"]
        expected = (rows["colorize_then_classify"] - rows["grey_input"]) / drop if drop > 0 else np.nan
        assert share.iloc[0] == pytest.approx(expected, nan_ok=True)
    header = next(line for line in result.out.splitlines() if "recovered_share" in line)
    assert "psnr_grey_baseline" in header  # the printed table shows the colorization measures
    report = (out / "report.html").read_text()
    assert "id='colorization'" in report and report.count("ssim_grey_baseline") >= 1
    assert cli("run", config, "--out", out, "--quiet").code == 0  # resumes: nothing to redo
    assert len(pd.read_csv(out / "results.csv")) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert any("colorized_colorizer_unet_l1" in f for f in summary["figures"])


def test_task_aware_colorizer_learns_from_a_frozen_classifier(tmp_path):
    """The guide's KL term moves the colorizer toward what the classifier needs: at the same budget the
    guided U-Net recovers more of the colour -> grey accuracy drop; the guide is left untouched and is
    never saved with the colorizer."""
    from genclf.pipelines.classify import train_classifier
    from genclf.pipelines.colorize import colour_pool

    split = make_split(load_dataset("shapes:120"), 0, k_per_class=60)
    guide, _ = train_classifier(split, "cnn", Fit(TrainConfig(epochs=6, batch_size=32, lr=3e-3), 0, quiet=True))
    before = {k: v.clone() for k, v in guide.model.state_dict().items()}
    test = split.test
    accuracy = lambda x: float((guide.predict_proba(x).argmax(1) == test.labels.numpy()).mean())  # noqa: E731
    grey = to_grey_rgb(test.images)
    assert accuracy(test.images) - accuracy(grey) > 0.3  # a real drop to recover
    config = TrainConfig(epochs=6, batch_size=32, lr=2e-3, precision="fp32")
    pool = colour_pool(split)
    plain, unguided = train_colorizer(pool, "unet_l1", Fit(config, 0, quiet=True), guide=guide)  # no weight: unused
    guided, result = train_colorizer(
        pool, "unet_l1", Fit(config, 0, quiet=True), options={"task_weight": 1.0}, guide=guide
    )
    assert np.isfinite(result.history[-1]["train_task_kl"]) and "train_task_kl" not in unguided.history[-1]
    assert accuracy(guided.colorize(grey)) > accuracy(plain.colorize(grey)) + 0.1
    assert all(torch.equal(before[k], v) for k, v in guide.model.state_dict().items())
    assert all(p.requires_grad for p in guide.model.parameters())  # frozen only while the colorizer trained
    assert not guided.model._guide  # detached after training
    assert set(guided.model.state_dict()) == set(plain.model.state_dict())
    save_colorizer(tmp_path / "c", guided)
    assert torch.equal(load_colorizer(tmp_path / "c").colorize(grey[:4]), guided.colorize(grey[:4]))


def test_colorize_then_classify_task_weight_is_checked_and_keys_the_store(cli, tmp_path):
    config = tmp_path / "run.yaml"
    body = (
        'data: {spec: "shapes:20", k_per_class: 10}\n'
        "train: {epochs: 1, batch_size: 16, precision: fp32}\n"
        "generator_train: {epochs: 1, batch_size: 16, precision: fp32}\n"
        "strategies: [{name: colorize_then_classify, params: {colorizer: unet_l1, task_weight: WEIGHT}}]\n"
        "seeds: [0]\n"
    )
    config.write_text(body.replace("WEIGHT", "-1"))
    bad = cli("run", config, "--out", tmp_path / "bad", "--quiet")
    assert bad.code == 2 and "params.task_weight" in bad.err and len(bad.err.strip().splitlines()) == 1
    assert not (tmp_path / "bad" / "results.csv").exists()
    config.write_text(body.replace("WEIGHT", "0.5"))
    result = cli("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    names = [p.name for p in (tmp_path / "run" / "generators").glob("*/*")]
    assert "colorizer_unet_l1_task_weight-0.5_guide-cnn-dropout0.2" in names, names


def test_pretrained_colorizer_keeps_its_imagenet_encoder_frozen_and_learns_the_decoder(shapes):
    from genclf.models.backbones import _package_state

    trained, _ = train_colorizer(
        shapes.train, "unet_pretrained", Fit(TINY, 0, quiet=True), options={"resolution": 64, "width": 8}
    )
    net = trained.model.generator
    package = [v for k, v in _package_state("efficientnet_lite0") if not k.startswith(("_fc.", "classifier."))]
    floats = [v for v in net.body.state_dict().values() if v.is_floating_point()]
    assert len(floats) == len(package)
    assert all(torch.equal(a, b) for a, b in zip(floats, package))  # ImageNet weights and BN statistics untouched
    assert not any(p.requires_grad for p in net.body.parameters())
    assert net.taps == (0, 1, 2, 4, 6)  # a 64 px encoder on 32 px images: from stride 2 (a 32 px map)
    fresh = COLORIZERS.get("unet_pretrained")(image_size=32, width=8, resolution=64).generator
    assert not torch.equal(fresh.out[1].weight, net.out[1].weight)  # the decoder learned


def test_pretrained_colorizer_feeds_the_encoder_grey_in_the_weights_normalisation():
    net = COLORIZERS.get("unet_pretrained")(image_size=32, width=8, resolution=48).generator
    grey = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    x = net.encoder_input(grey_lightness(grey))
    assert x.shape == (1, 3, 48, 48)
    assert torch.allclose(x, torch.full_like(x, (200 - 127) / 128), atol=2e-3)  # TF EfficientNet-Lite: (x - 127) / 128
