"""One GPU session's worth of benchmarks, ready to go, printing one JSON:

- classifier throughput: genclf's Trainer (fp32 and bf16) against a plain hand-written loop, same cnn;
- cgan, cvae and ddpm on MNIST at bf16 (16-mixed where bf16 is not native): CAS and FID along training
  (CAS vs training seconds, genclf's generator assessment at each checkpoint epoch);
- MNIST with 100 labels (the other 59,800 unlabeled): FixMatch and the semi-supervised GAN, test errors.

    bash bench/gpu.sh --data-dir DIR     # on a CUDA machine (DIR holds MNIST's IDX files); < 10 min on an H100
    python bench/gpu.py --reduced        # anywhere (CPU included): tiny data and budgets, checks the pipeline

Sections run in the order above; the JSON is rewritten after each one, so a run cut short keeps what it
finished. A section that fails records its error and the others still run (exit status 1 then); sections
not started before ``--budget-seconds`` are marked skipped, and at ``--deadline-seconds`` (560 s after the
imports by default, so that one call ends within 10 minutes) the running section is stopped where it is,
keeping the generator curve points it reached, and the JSON written. Never required: CI runs only the
reduced mode (tests/test_bench.py). Writes bench/results/gpu.json (full) or the --out path.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path

import torch

from genclf.config import StrategyConfig, TrainConfig
from genclf.data import load_dataset, make_split
from genclf.evaluation.generator_quality import assess_generator, assessment_budget
from genclf.pipelines.classify import train_classifier
from genclf.pipelines.generate import train_generator
from genclf.runtime.environment import describe_environment
from genclf.strategies import Context, build_strategy
from genclf.training.fit import Fit

SCRIPT_STARTED = time.perf_counter()  # the deadline counts from here (after imports): data loading included
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from throughput import run_genclf, run_plain  # noqa: E402  (bench/throughput.py, the CPU comparison)

MNIST = ROOT.parents[1] / "shared" / "datasets" / "mnist"

FULL = {
    "throughput": {"epochs": 2, "batch_size": 128},
    # epochs trained, and the epochs at which the generator is assessed (CAS vs training seconds)
    "generators": {"cgan": (10, (2, 5, 10)), "cvae": (10, (5, 10)), "ddpm": (10, (5, 10))},
    "generator_batch": 128,
    "per_class": None,  # as many generated images per class as real ones (bench/generators.py's protocol)
    "assess": None,  # genclf's assessment budget (about 1,500 steps per classifier)
    # MNIST with 100 labels: batch 50 (2 steps per pass over the labeled images), 5,000 steps each
    "ssl": {
        "train": {"epochs": 40, "batch_size": 50, "lr": 3e-3},
        "fixmatch": {"step_ratio": 62.5, "keep": "last", "mu": 7},
        "semi_supervised_gan": {"epochs": 2500},
    },
}
REDUCED = {
    "throughput": {"epochs": 1, "batch_size": 64},
    "generators": {"cgan": (2, (1, 2)), "cvae": (1, (1,)), "ddpm": (1, (1,))},
    "generator_batch": 64,
    "per_class": 30,
    "assess": TrainConfig(epochs=2, batch_size=64),
    "ssl": {
        "train": {"epochs": 2, "batch_size": 50, "lr": 3e-3},
        "fixmatch": {"step_ratio": 1},
        "semi_supervised_gan": {"epochs": 2},
    },
}


def precision_for(device: str) -> str:
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "auto"


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def throughput(split, budget: dict, device: str, precision: str) -> dict:
    """img/s of genclf fp32, a plain fp32 loop and genclf at ``precision`` (one round each, interleaved)."""
    epochs, batch = budget["throughput"]["epochs"], budget["throughput"]["batch_size"]
    runs = {
        "genclf_fp32": run_genclf(split, epochs, batch, "fp32", 0, device),
        "plain_fp32": run_plain(split, epochs, batch, 0, device),
        f"genclf_{precision}": run_genclf(split, epochs, batch, precision, 0, device),
    }
    plain = runs["plain_fp32"]["img_per_s"]
    return {
        "epochs": epochs,
        "batch_size": batch,
        **{name: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for name, r in runs.items()},
        "ratio_genclf_fp32_over_plain": round(runs["genclf_fp32"]["img_per_s"] / plain, 3),
        f"ratio_genclf_{precision}_over_plain": round(runs[f"genclf_{precision}"]["img_per_s"] / plain, 3),
    }


def generator_curve(split, name: str, budget: dict, device: str, precision: str, shared: dict, into: dict) -> dict:
    """Train ``name`` once; at each checkpoint epoch assess it (the assessment's time is not counted). The
    assessment's real-data classifier is trained once and shared by every generator (``shared``). The curve
    grows in ``into`` as it goes, so a section stopped at the deadline keeps the points it reached."""
    epochs, checkpoints = budget["generators"][name]
    config = TrainConfig(epochs=epochs, batch_size=budget["generator_batch"], precision=precision, device=device)
    assess = budget["assess"] or assessment_budget(len(split.train))
    if "reference" not in shared:
        shared["reference"] = train_classifier(split, "cnn", Fit(assess, 0, quiet=True))[0]
    points: list[dict] = []
    into.update(epochs=epochs, batch_size=config.batch_size, precision=precision, curve=points)
    paused = 0.0
    began = time.perf_counter()

    def checkpoint(epoch: int, record: dict, trained) -> None:
        nonlocal paused
        if epoch not in checkpoints:
            return
        sync()
        stop = time.perf_counter()
        scores = assess_generator(
            trained, split, assess, per_class=budget["per_class"], real_classifier=shared["reference"]
        )
        points.append(
            {
                "epoch": epoch,
                "train_seconds": round(stop - began - paused, 2),
                "cas": round(scores["cas"], 4),
                "fid": round(scores["fid"], 3),
                "real_data_accuracy": round(scores["real_data_accuracy"], 4),
            }
        )
        print(f"{name} epoch {epoch}: {points[-1]}", file=sys.stderr, flush=True)
        paused += time.perf_counter() - stop

    train_generator(split.train, name, Fit(config, 0, quiet=True), on_epoch_end=checkpoint)
    return dict(into)


def semi_supervised(data, name: str, budget: dict, device: str, precision: str) -> dict:
    split = make_split(data, 0, k_per_class=10)
    config = TrainConfig(**budget["ssl"]["train"], precision=precision, device=device)
    params = budget["ssl"][name]
    strategy = build_strategy(StrategyConfig(name, params=params))
    began = time.perf_counter()
    strategy.fit(split, Context(0, config))
    sync()
    seconds = time.perf_counter() - began
    errors = int((strategy.predict_proba(split.test.images).argmax(1) != split.test.labels.numpy()).sum())
    return {"params": params, "test_errors": errors, "n_test": len(split.test), "seconds": round(seconds, 1)}


class DeadlineReached(BaseException):
    """Raised inside a running section at ``--deadline-seconds`` (a BaseException, so that no ``except
    Exception`` on the way up mistakes it for the section's own failure)."""


def run_sections(sections: list, report: dict, budget_seconds: float, deadline_seconds: float, save) -> bool:
    """Run ``sections`` ((key, run(into)) pairs) in order into ``report``, calling ``save()`` after each.
    None starts after ``budget_seconds``; ``deadline_seconds`` from now the running one is stopped with what it put
    in ``into`` and the rest are skipped. Returns whether a section failed."""
    began, failed = time.perf_counter(), False
    state = {"running": False, "expired": False}

    def on_alarm(signum, frame) -> None:
        state["expired"] = True
        if state["running"]:
            raise DeadlineReached

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(deadline_seconds, 1e-3))
    try:
        for key, section in sections:
            elapsed = time.perf_counter() - began
            if state["expired"]:
                report[key] = {"skipped": "not started: past --deadline-seconds"}
            elif elapsed > budget_seconds:
                report[key] = {"skipped": f"not started: past --budget-seconds {budget_seconds:g}"}
            else:
                into: dict = {}
                started = time.perf_counter()
                try:
                    state["running"] = True
                    report[key] = section(into)
                except DeadlineReached:
                    report[key] = {**into, "stopped": "at --deadline-seconds"}
                except Exception as error:  # one broken section must not cost the others their device time
                    failed = True
                    report[key] = {
                        "error": f"{type(error).__name__}: {error}",
                        "traceback": traceback.format_exc()[-3000:],
                    }
                finally:
                    state["running"] = False
                report[key]["section_seconds"] = round(time.perf_counter() - started, 1)
                line = json.dumps(report[key])[:400]
                print(f"[{time.perf_counter() - began:.0f} s] {key}: {line}", file=sys.stderr, flush=True)
            report["wall_seconds"] = round(time.perf_counter() - began, 1)
            save()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="tiny data and budgets (any device, e.g. in CI)")
    parser.add_argument("--data-dir", type=Path, default=MNIST, help=f"MNIST's IDX files (default {MNIST})")
    parser.add_argument("--budget-seconds", type=float, default=480.0, help="no section starts after this")
    parser.add_argument(
        "--deadline-seconds", type=float, default=560.0, help="the running section is stopped here (default 560)"
    )
    parser.add_argument("--only", nargs="*", metavar="PREFIX", help="run only the sections starting so (e.g. ssl_100)")
    parser.add_argument("--ssl-steps", type=int, help="optimizer steps of each MNIST-100 method (default 5,000)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/gpu.json; none when --reduced)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.reduced:
        parser.error("no CUDA device: run on a GPU machine, or pass --reduced to check the pipeline")
    if not args.reduced and not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir}: no such folder (MNIST's IDX files are needed for the full run)")
    budget = REDUCED if args.reduced else FULL
    spec = "digits" if args.reduced else f"idx:{args.data_dir}"
    precision = precision_for(device)
    out = args.out or (None if args.reduced else ROOT / "results" / "gpu.json")
    data = load_dataset(spec)
    split = make_split(data, 0, k_per_class=30 if args.reduced else None, val_fraction=0.0 if args.reduced else 0.1)
    report = {
        "benchmark": "gpu",
        "command": " ".join(["python", *sys.argv]),
        "mode": "reduced" if args.reduced else "full",
        "data": spec,
        "environment": describe_environment(device),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
    }
    shared: dict = {}
    sections = [("throughput", lambda into: throughput(split, budget, device, precision))]
    sections += [
        (f"generator_{n}", lambda into, n=n: generator_curve(split, n, budget, device, precision, shared, into))
        for n in budget["generators"]
    ]
    sections += [
        (f"ssl_100_{n}", lambda into, n=n: semi_supervised(data, n, budget, device, precision))
        for n in ("fixmatch", "semi_supervised_gan")
    ]
    if args.only:
        sections = [(key, run) for key, run in sections if key.startswith(tuple(args.only))]
    if args.ssl_steps:  # 2 steps per pass over the 100 labeled images at batch 50
        budget["ssl"]["fixmatch"]["step_ratio"] = args.ssl_steps / 2 / budget["ssl"]["train"]["epochs"]
        budget["ssl"]["semi_supervised_gan"]["epochs"] = args.ssl_steps // 2

    def save() -> None:
        if out is not None:  # complete after every section; a cut-short run leaves no half-written file
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_suffix(".json.tmp")
            partial.write_text(json.dumps(report, indent=2) + "\n")
            partial.replace(out)

    failed = run_sections(
        sections, report, args.budget_seconds, args.deadline_seconds - (time.perf_counter() - SCRIPT_STARTED), save
    )
    print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
