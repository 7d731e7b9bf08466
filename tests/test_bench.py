"""The benchmark scripts that must run anywhere: bench/gpu.py in its reduced mode (what a GPU session runs
at full budget), and the training-step profiler on a small job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_gpu_benchmark_reduced_mode_prints_one_json(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, BENCH / "gpu.py", "--reduced", "--out", out], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "reduced" and report["environment"]["torch"]
    assert report["throughput"]["images_per_second"] > 0
    assert set(report["generators"]) == {"cgan", "cvae"}
    assert all(0 <= g["cas"] <= 1 for g in report["generators"].values())
    ssl = report["semi_supervised_100_labels"]
    assert set(ssl) == {"fixmatch", "semi_supervised_gan"}
    assert all(0 <= s["test_errors"] <= s["n_test"] for s in ssl.values())
    assert json.loads(result.stdout) == report  # the same JSON on stdout


def test_gpu_benchmark_without_cuda_refuses_the_full_run():
    import torch

    if torch.cuda.is_available():
        return
    result = subprocess.run([sys.executable, BENCH / "gpu.py"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--reduced" in result.stderr


def test_step_profiler_groups_a_models_time(tmp_path):
    out = tmp_path / "profile.json"
    result = subprocess.run(
        [sys.executable, BENCH / "step_profile.py", "--models", "cnn,cvae", "--images", "256", "--out", out],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["model"] for r in report["results"]] == ["cnn", "cvae"]
    for r in report["results"]:
        shares = r["percent_of_wall"]
        assert shares["convolution"] > 0 and 0 <= shares["python/framework overhead"] <= 100
        assert 90 <= sum(shares.values()) <= 110
