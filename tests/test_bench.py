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
    throughput = report["throughput"]
    assert throughput["genclf_fp32"]["img_per_s"] > 0 and throughput["ratio_genclf_fp32_over_plain"] > 0
    for name, epochs in (("cgan", [1, 2]), ("cvae", [1]), ("ddpm", [1])):
        curve = report[f"generator_{name}"]["curve"]
        assert [point["epoch"] for point in curve] == epochs
        assert all(0 <= point["cas"] <= 1 for point in curve)
        seconds = [point["train_seconds"] for point in curve]  # assessment time left out: never decreasing
        assert seconds == sorted(seconds) and seconds[0] >= 0
    for name in ("fixmatch", "semi_supervised_gan"):
        ssl = report[f"ssl_100_{name}"]
        assert 0 <= ssl["test_errors"] <= ssl["n_test"]
    assert not any("error" in value or "skipped" in value for value in report.values() if isinstance(value, dict))
    assert json.loads(result.stdout) == report  # the same JSON on stdout


def test_gpu_benchmark_skips_sections_past_its_budget(tmp_path):
    out = tmp_path / "gpu.json"
    command = [sys.executable, BENCH / "gpu.py", "--reduced", "--budget-seconds", "0", "--out", out]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert "section_seconds" in report["throughput"] or "skipped" in report["throughput"]
    assert "past --budget-seconds" in report["ssl_100_semi_supervised_gan"]["skipped"]


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
