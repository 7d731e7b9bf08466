"""The benchmark scripts that must run anywhere: bench/gpu.py in its reduced mode (what a GPU session runs
at full budget), and the training-step profiler on a small job."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
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


def test_gpu_benchmark_stops_the_running_section_at_its_deadline_and_keeps_what_it_reached():
    """The one-call GPU run must end within its limit: at --deadline-seconds the running section is stopped
    (its partial curve kept, the JSON saved) and the sections after it are skipped."""
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH / "gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)

    def endless(into):  # 20 s at most, so that a missing deadline fails the test instead of hanging it
        into["curve"] = [{"epoch": 1, "cas": 0.5}]
        for _ in range(2000):
            time.sleep(0.01)
        return {"finished": True}

    def never(into):
        raise AssertionError("started after the deadline")

    report, saved = {}, []
    sections = [("quick", lambda into: {"value": 1}), ("endless", endless), ("after", never)]
    failed = gpu.run_sections(sections, report, 1e9, 0.5, lambda: saved.append(json.loads(json.dumps(report))))
    assert not failed and report["quick"]["value"] == 1
    assert report["endless"]["curve"] == [{"epoch": 1, "cas": 0.5}]
    assert report["endless"]["stopped"] == "at --deadline-seconds"
    assert report["after"]["skipped"] == "not started: past --deadline-seconds"
    assert len(saved) == 3 and saved[-1] == report  # saved after every section, the last one complete
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left behind


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
