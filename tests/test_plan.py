"""The run plan derived from the data: which strategies, what size, --dry-run, --time-budget, unlabeled/."""

from __future__ import annotations

import shutil

import pytest
from conftest import write_folder
from PIL import Image

from genclf.run import plan
from genclf.run.eta import job_weights
from genclf.strategies import STRATEGIES


def _names(found) -> list[str]:
    return [entry.display_name for entry in plan.strategies_for(found)]


def test_balanced_folder_gets_no_imbalance_or_semi_supervised_strategies(tmp_path):
    found = plan.survey(f"folder:{write_folder(tmp_path / 'f')}")
    assert found.class_counts == [12, 12, 12] and found.n_unlabeled == 0
    names = _names(found)
    assert names[:4] == ["baseline", "classic_augmentation", "mixup", "cutmix"]
    assert "synthetic_augmentation[cvae]" in names
    assert not {"class_weights", "random_oversampling", "smote", "generative_balancing"} & set(names)
    assert not {"pseudo_label", "fixmatch", "semi_supervised_gan"} & set(names)


def test_imbalanced_folder_gets_the_imbalance_strategies(tmp_path):
    root = write_folder(tmp_path / "f")
    for path in sorted((root / "fox").iterdir())[4:]:
        path.unlink()  # 12 : 12 : 4
    found = plan.survey(f"folder:{root}")
    assert found.imbalance_ratio == 3.0
    assert {"class_weights", "random_oversampling", "smote", "generative_balancing"} <= set(_names(found))


def test_unlabeled_subfolder_is_a_pool_not_a_class_and_brings_semi_supervised_strategies(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    shutil.copytree(root / "cat", root / "unlabeled")
    found = plan.survey(f"folder:{root}")
    assert found.class_names == ["cat", "dog", "fox"] and found.n_unlabeled == 12
    assert {"pseudo_label", "fixmatch", "semi_supervised_gan"} <= set(_names(found))
    import genclf.data.image_folder as image_folder
    from genclf.data import load_dataset, make_split

    monkeypatch.setattr(image_folder, "decode_image", lambda *a, **k: pytest.fail("decoded again"))
    data = load_dataset(f"folder:{root}", found.image_size, found.channels)  # as the survey read it: cached
    split = make_split(data, seed=0)
    assert len(split.unlabeled) == 12 and bool((split.unlabeled.labels == -1).all())


def test_image_size_is_native_for_small_images_and_a_photo_size_for_large_ones(tmp_path):
    small = plan.survey(f"folder:{write_folder(tmp_path / 's', size=24)}")
    assert small.native_size == 24 and small.image_size == 24 and small.channels == 1
    large = tmp_path / "large"
    for cls in ("a", "b"):
        (large / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (400 + 10 * i, 300), (40 * i, 100, 200 if cls == "a" else 20)).save(
                large / cls / f"{i}.jpg"
            )
    found = plan.survey(f"folder:{large}")  # colour photos: loaded at the pretrained backbone's input size
    assert found.native_size == 300 and found.image_size == plan.TRANSFER_SIZE and found.channels == 3
    for image in large.glob("*/*.jpg"):  # the same photos in grey: the from-scratch photo size
        Image.open(image).convert("L").save(image)
    found = plan.survey(f"folder:{large}")
    assert found.image_size == plan.PHOTO_SIZE and found.channels == 1 and not found.photos


def test_epochs_follow_the_dataset_size():
    assert plan.epochs_for(100, 32) == plan.MAX_EPOCHS  # few steps per epoch: more epochs
    assert plan.epochs_for(50_000, 64) == plan.MIN_EPOCHS
    assert plan.MIN_EPOCHS < plan.epochs_for(2_000, 32) < plan.MAX_EPOCHS


def test_dry_run_prints_the_plan_with_an_estimate_and_trains_nothing(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    result = cli("run", "--data", f"folder:{root}", "--dry-run", "--out", tmp_path / "run")
    assert result.code == 0, result.err
    assert "36 labeled images in 3 classes" in result.out
    assert "grid: 5 strategies x 3 seeds = 15 cells" in result.out
    assert "estimated wall time" in result.out
    assert not (tmp_path / "run").exists()


def test_dry_run_of_a_config_counts_generators_only_where_a_strategy_draws_them(cli, tmp_path):
    """With an unlabeled pool, the pseudo-label teacher and the generator are trained only for strategies
    that draw generated images; the estimate says the same. A config a run would refuse is refused first."""
    config = tmp_path / "run.yaml"
    body = "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 2}\ngenerator_train: {epochs: 2}\nstrategies: [S]\n"
    config.write_text(body.replace("S", "{name: baseline}, {name: mixup}"))
    plain = cli("run", config, "--dry-run", "--out", tmp_path / "a")
    assert plain.code == 0, plain.err
    assert "(pseudo-label teacher)" not in plain.out and "(generator" not in plain.out
    config.write_text(body.replace("S", "{name: baseline}, {name: synthetic_augmentation}"))
    drawing = cli("run", config, "--dry-run", "--out", tmp_path / "b")
    assert drawing.code == 0, drawing.err
    assert "(pseudo-label teacher)" in drawing.out and "(generator + its check)" in drawing.out
    config.write_text(body.replace("S", "{name: mixup}, {name: mixup}"))
    twice = cli("run", config, "--dry-run", "--out", tmp_path / "c")
    assert twice.code == 2 and "two strategies are both named 'mixup'" in twice.err
    assert "estimate" not in twice.out


def test_estimate_with_workers_times_one_thread_and_spreads_the_cells(tmp_path):
    import torch

    planned = plan.plan_run(f"folder:{write_folder(tmp_path / 'f')}")
    threads = torch.get_num_threads()
    plan.estimate(planned, workers=2)
    assert torch.get_num_threads() == threads  # the probe's single thread is not left behind
    per_seed = sum(seconds for _, seconds in planned.cells) + planned.generator_seconds
    assert planned.estimate_seconds == pytest.approx(per_seed * len(planned.config.seeds) / 2)
    assert "over 2 worker processes" in plan.describe(planned)


def test_time_budget_scales_epochs_then_seeds_to_fit(tmp_path):
    planned = plan.plan_run(f"folder:{write_folder(tmp_path / 'f')}")
    planned.cells = [("baseline", 600.0), ("mixup", 600.0)]
    planned.generator_seconds = 0.0
    epochs = planned.config.train.epochs
    plan.fit_time_budget(planned, minutes=30)  # 3 seeds x 1200 s = 60 min -> 30 min
    assert planned.estimate_seconds <= 30 * 60
    assert planned.config.train.epochs < epochs and planned.config.seeds == [0, 1, 2]
    plan.fit_time_budget(planned, minutes=0.1)  # impossible: epochs stop at their floor, then fewer seeds
    assert planned.config.train.epochs == plan.MIN_EPOCHS and planned.config.seeds == [0]
    assert "cannot be met" in plan.describe(planned)
    with pytest.raises(Exception, match="time-budget"):
        plan.fit_time_budget(planned, minutes=0)


def test_a_planned_run_uses_every_label(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    result = cli(
        "run",
        "--data",
        f"folder:{root}",
        "--epochs",
        "1",
        "--set",
        "seeds=[0]",
        "--set",
        "strategies=[{name: baseline}]",
        "--quiet",
        "--out",
        tmp_path / "run",
    )
    assert result.code == 0, result.err
    import pandas as pd

    row = pd.read_csv(tmp_path / "run" / "results.csv").iloc[0]
    assert row["k_per_class"] != row["k_per_class"]  # NaN: no low-data subset
    assert row["n_train"] == 36 - 9 - 3  # all labeled images but the test (20%) and validation (10%) shares


def _fake_imagenet_resnet18(path, seed: int = 123):
    import torch
    import torchvision

    torch.manual_seed(seed)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_pretrained_loads_the_hub_cache_file_offline_and_fine_tunes_it(cli, tmp_path, monkeypatch):
    import torch

    from genclf.models.pretrained import hub_cache_file
    from genclf.pipelines.classify import load_classifier

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    state = _fake_imagenet_resnet18(hub_cache_file("resnet18"))
    assert str(hub_cache_file("resnet18")).startswith(str(tmp_path / "torch"))
    args = ["train", "--data", "digits", "--k-per-class", "10", "--model", "resnet18", "--epochs", "1"]
    result = cli(*args, "--pretrained", "--precision", "fp32", "--out", tmp_path / "m")
    assert result.code == 0, result.err
    assert "pretrained tensors loaded" in result.out
    tuned = load_classifier(tmp_path / "m").model.body.state_dict()
    start = state["conv1.weight"].sum(1, keepdim=True)  # grey digits: the RGB filters summed
    cosine = torch.nn.functional.cosine_similarity(tuned["conv1.weight"].flatten(), start.flatten(), dim=0)
    assert cosine > 0.95  # fine-tuned from the file, not from a fresh initialisation
    assert torch.allclose(tuned["layer4.1.bn2.weight"], state["layer4.1.bn2.weight"], atol=0.05)


def test_weights_file_as_safetensors_and_offline_errors(cli, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    base = ["train", "--data", "digits", "--k-per-class", "5", "--model", "resnet18", "--epochs", "1", "--quiet"]
    missing = cli(*base, "--pretrained", "--out", tmp_path / "a")
    assert missing.code == 2 and "never downloads" in missing.err and str(tmp_path / "empty") in missing.err
    assert "Traceback" not in missing.err
    state = _fake_imagenet_resnet18(tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    ok = cli(*base, "--weights", tmp_path / "w.safetensors", "--precision", "fp32", "--out", tmp_path / "b")
    assert ok.code == 0, ok.err
    wrong_model = cli("train", "--data", "digits", "--pretrained", "--epochs", "1", "--out", tmp_path / "c")
    assert wrong_model.code == 2 and "takes no option 'pretrained'" in wrong_model.err
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    junk = cli(*base, "--weights", tmp_path / "junk.pth", "--out", tmp_path / "d")
    assert junk.code == 2 and "junk.pth" in junk.err


def test_grey_frames_to_a_colour_model_warn_and_genclf_records_are_not_stray_files(cli, tmp_path):
    import numpy as np
    from conftest import TINY_TRAIN

    root = write_folder(tmp_path / "f", colour=True)
    assert cli("train", "--data", f"folder:{root}", "--channels", "3", *TINY_TRAIN, "--out", tmp_path / "m").code == 0
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(frames / f"{i}.png")
    (frames / "environment.json").write_text("{}")  # what genclf writes beside its own image outputs
    with pytest.warns(UserWarning, match="every input image is grey") as caught:
        result = cli("predict", "--checkpoint", tmp_path / "m", "--input", frames, "--out", tmp_path / "p")
    assert result.code == 0
    assert not [w for w in caught if "non-image" in str(w.message)]


def test_train_without_a_config_takes_size_and_budget_from_the_data(cli, tmp_path):
    import yaml

    root = write_folder(tmp_path / "f", size=12)
    result = cli("train", "--data", f"folder:{root}", "--precision", "fp32", "--out", tmp_path / "m")
    assert result.code == 0, result.err
    assert "defaults from the data" in result.out
    saved = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    assert saved["data"]["image_size"] == 12 and saved["data"]["channels"] == 1  # native size, not 32
    assert saved["train"]["batch_size"] == 32 and saved["train"]["epochs"] == plan.MAX_EPOCHS  # tiny set
    explicit = cli("train", "--data", f"folder:{root}", "--epochs", "1", "--quiet", "--out", tmp_path / "n")
    assert explicit.code == 0
    assert yaml.safe_load((tmp_path / "n" / "config.yaml").read_text())["train"]["epochs"] == 1  # flags win


def test_generator_and_colorizer_jobs_take_size_and_channels_from_the_data(cli, tmp_path):
    """A folder of 96 px colour photos: the generator and the colorizer train at the run plan's photo size
    (64 px, 3 channels), not at the folder loader's 32 px."""
    import json

    root = write_folder(tmp_path / "f", n_per_class=4, size=96, colour=True)
    short = ["--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--quiet"]
    result = cli("train-generator", "--data", f"folder:{root}", "--model", "cvae", *short, "--out", tmp_path / "g")
    assert result.code == 0, result.err
    meta = json.loads((tmp_path / "g" / "model.json").read_text())
    assert meta["image_size"] == 64 and meta["in_channels"] == 3
    result = cli("train-colorizer", "--data", f"folder:{root}", "--model", "unet_l1", *short, "--out", tmp_path / "c")
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "c" / "model.json").read_text())["image_size"] == 64
    sized = cli("train-generator", "--data", f"folder:{root}", "--image-size", "16", *short, "--out", tmp_path / "s")
    assert sized.code == 0, sized.err
    assert json.loads((tmp_path / "s" / "model.json").read_text())["image_size"] == 16  # flags win


def test_eta_weighs_cells_by_expected_cost_not_by_count():
    """The first finished cell is the costliest (generators run first): a mean over cells would extrapolate it
    to every remaining cell; the clock extrapolates its seconds per unit of expected cost instead."""
    from genclf.training.progress import WorkClock

    clock = WorkClock({1: 10.0, 2: 1.0, 3: 1.0}, workers=1)
    assert clock.finish(1, 20.0) == "  ETA ~4 s"  # 2 s per unit x 2 units left (a plain mean would say 40 s)
    assert clock.finish(2, 4.0) == "  ETA ~2 s"
    assert clock.finish(3, 2.0) == ""
    two = WorkClock({1: 1.0, 2: 1.0, 3: 1.0}, workers=2)
    assert two.finish(1, 120.0) == "  ETA ~2.0 min"  # 2 units over 2 workers
    planned = WorkClock({1: 100.0, 2: 100.0}, prior=100.0)  # weights in estimated seconds
    assert planned.finish(1, 300.0) == "  ETA ~3.3 min"  # (300 + 100) / (100 + 100) s per estimated second x 100


def test_job_weights_share_each_seeds_generator_among_the_cells_that_draw_it():
    from genclf.config import RunConfig, StrategyConfig, TrainConfig
    from genclf.data import load_dataset, make_split
    from genclf.run.cells import CellJob

    names = ["baseline", "synthetic_augmentation", "generative_balancing"]
    config = RunConfig(
        strategies=[StrategyConfig(name=n) for n in names],
        seeds=[0],
        train=TrainConfig(epochs=10),
        generator_train=TrainConfig(epochs=20),
    )
    splits = {(None, 0): make_split(load_dataset("digits"), 0)}
    jobs = [CellJob(i, None, 0, entry) for i, entry in enumerate(config.strategies, 1)]
    weights = job_weights(config, jobs, splits)
    generator = 2.0 + 2.0 * 20 / 10  # units of one baseline cell
    assert weights[1] == 1.0
    assert weights[2] == pytest.approx(STRATEGIES.get("synthetic_augmentation").cost + generator / 2)
    counts = splits[(None, 0)].train.class_counts()
    balanced = max(counts) * len(counts) / sum(counts)  # the class-balanced set relative to the real one
    assert 1.0 < balanced < 1.1 and weights[3] == pytest.approx(balanced + generator / 2)
    planned = plan.Plan(config, None, cells=[(n, 100.0 * i) for i, n in enumerate(names, 1)], generator_seconds=60.0)
    assert job_weights(config, jobs, splits, planned) == {1: 100.0, 2: 230.0, 3: 330.0}


def test_the_cost_of_fixmatch_and_pseudo_label_grows_with_their_step_ratio_and_fixmatch_mu():
    """A FixMatch given 56x its default steps (mnist_ssl_100_fixmatch30) costs 56x as much: the ETA of that
    run read 1.9 min after its first cell while 50 min were left."""
    from genclf.config import StrategyConfig
    from genclf.data import load_dataset, make_split

    split = make_split(load_dataset("digits"), 0)
    for name in ("fixmatch", "pseudo_label"):
        default = plan.relative_cost(StrategyConfig(name=name), split)
        assert default == STRATEGIES.get(name).cost
        longer = plan.relative_cost(StrategyConfig(name=name, params={"step_ratio": 112.5}), split)
        assert longer == pytest.approx(default * 112.5 / 2.0)
    # FixMatch at mu = 7 (the paper's) instead of 3: 1 + 7 + 7/3 against 1 + 3 + 3/3 passes a step, about 2x
    wider = plan.relative_cost(StrategyConfig(name="fixmatch", params={"mu": 7}), split)
    assert wider == pytest.approx(STRATEGIES.get("fixmatch").cost * (1 + 7 + 7 / 3) / (1 + 3 + 3 / 3))


def test_a_colorizer_epoch_is_timed_on_a_sample_of_its_pool_and_scaled_to_the_pool(monkeypatch):
    import genclf.pipelines.colorize as colorize
    from genclf.config import RunConfig, StrategyConfig
    from genclf.data import load_dataset, make_split

    split = make_split(load_dataset("shapes:40"), 0)
    pool = len(colorize.colour_pool(split))
    timed = []

    class Fitted:
        train_seconds = 2.0

    def fake_train(images, name, fit, options=None):
        timed.append(len(images))
        return None, Fitted()

    monkeypatch.setattr(colorize, "train_colorizer", fake_train)
    monkeypatch.setattr(plan, "PROBE_IMAGES", 16)
    config = RunConfig(strategies=[StrategyConfig("colorize_then_classify", params={"colorizer": "unet_l1"})])
    seconds = plan._colorizer_seconds(config, split)
    assert timed == [16] and pool > 16
    assert seconds == pytest.approx(2.0 * pool / 16 * config.generator_train.epochs)


def test_a_photo_plan_adds_self_training_on_features_only_where_there_is_an_unlabeled_pool():
    def names(n_unlabeled):
        found = plan.Survey("folder:x", "x", ["a", "b"], [50, 50], None, n_unlabeled, 64, 3, 128, photos=True)
        return [entry.display_name for entry in plan.strategies_for(found)]

    assert "feature_pseudo_label[efficientnet_lite0]" in names(500)
    assert not any(name.startswith("feature_pseudo_label") for name in names(0))
