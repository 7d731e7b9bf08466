"""What every command shares: the parser class, the common flags, flags -> config overrides, output
folders, and the data/split/output preparation of the training commands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import genclf.training.tracking as tracking
from genclf.config import config_changes, load_config, read_yaml, save_config, to_dict
from genclf.config_rules import DEVICES, PRECISIONS
from genclf.errors import CheckpointError, ConfigError
from genclf.files import check_output_folder

if TYPE_CHECKING:
    from genclf.config import TrainConfig
    from genclf.training.fit import Fit

EXIT_OK, EXIT_BUG, EXIT_USAGE = 0, 1, 2
EXIT_PARTIAL = 3  # a run finished, but some of its cells failed (listed in failed.json)
T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    """One CLI command: its name, description, arguments and handler (its one-line help is in the light index
    of ``genclf.cli``, so ``genclf --help`` imports no command module)."""

    name: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], None]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's help ends with its default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = default not in (None, False, argparse.SUPPRESS, [], ()) and "default" not in text
        if shown and (action.option_strings or action.nargs in ("?", "*")):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """Exact flags only (no abbreviations: ``--epoch`` is not silently ``--epochs``); an error is one line,
    with a "did you mean" for a misspelt flag or command."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, exit 2, like every other bad input
        hint = self.suggestion(message)
        sys.stderr.write(f"genclf: error: {message}{hint} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)

    def known_words(self) -> tuple[list[str], list[str]]:
        """Every flag of this parser and of its sub-commands, and the sub-commands' names."""
        flags, commands = list(self._option_string_actions), []
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    commands.append(name)
                    flags += list(sub._option_string_actions)
        return flags, commands

    def suggestion(self, message: str) -> str:
        import difflib
        import re

        flags, commands = self.known_words()
        if "invalid choice" in message:
            word = re.search(r"invalid choice: '([^']*)'", message)
            pool = commands if "COMMAND" in message else re.findall(r"'([^']*)'", message.split("choose from", 1)[-1])
            close = difflib.get_close_matches(word.group(1), pool, n=1, cutoff=0.5) if word else []
        else:
            unknown = [w for w in re.findall(r"(--?[\w-]+)", message.split(":", 1)[-1]) if w not in flags]
            close = [m for w in unknown[:1] for m in difflib.get_close_matches(w, flags, n=1, cutoff=0.6)]
        return f"; did you mean {close[0]!r}?" if close else ""


def default_out(command: str) -> Path:
    return Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"


def shipped_configs() -> dict[str, Path]:
    """The example configs shipped inside the package, by name (``default``, ``mnist_imbalance``, ...)."""
    folder = Path(str(resources.files("genclf") / "configs"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def default_config_path() -> Path:
    return shipped_configs()["default"]


def resolve_config(value: Path | str) -> Path:
    """A config given as a path, or as the name of a shipped config (``genclf run mnist_imbalance``)."""
    path = Path(value)
    if path.exists():
        return path
    shipped = shipped_configs()
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    raise ConfigError(
        value, f"no such config file; expected a YAML path or a shipped config name: {', '.join(shipped)}"
    )


# flag (argparse dest) -> config key, for the flags that set a config value
COMMON_KEYS = {
    "data": "data.spec",
    "image_size": "data.image_size",
    "channels": "data.channels",
    "k_per_class": "data.k_per_class",
    "seed": "seed",
    "seeds": "seeds",
    "model": "model",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "precision": "train.precision",
    "compile": "train.compile",
    "device": "train.device",
}


def add_common(parser: argparse.ArgumentParser, data: bool = True, training: bool = True) -> None:
    from genclf.data import SCHEMES

    if data:
        parser.add_argument("--data", help=f"dataset spec: {' | '.join(_spec_forms(SCHEMES))}")
        parser.add_argument(
            "--image-size",
            type=int,
            help="resize images to N x N (default without --config: the data's own size up to 64 px, 64 above)",
        )
        parser.add_argument(
            "--channels", type=int, choices=(1, 3), help="convert images to 1 (grey) or 3 (RGB) channels"
        )
    parser.add_argument("--out", type=Path, help="output folder (default: runs/<command>-<timestamp>/)")
    parser.add_argument("--device", choices=DEVICES, help="compute device (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if training:
        parser.add_argument("--config", type=Path, help="YAML config file")
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set train.lr=0.001 (repeatable)",
        )
        parser.add_argument("--seed", type=int, help="random seed (default: 0)")
        parser.add_argument("--epochs", type=int, help="training epochs")
        parser.add_argument("--batch-size", type=int, help="training batch size")
        parser.add_argument("--lr", type=float, help="peak learning rate (AdamW, cosine schedule)")
        parser.add_argument(
            "--precision",
            choices=PRECISIONS,
            help="auto = bf16 where the hardware has native bf16, else fp32 (channels_last memory either way); "
            "16-mixed = fp16 autocast + GradScaler (CUDA)",
        )
        parser.add_argument(
            "--compile", action="store_true", default=None, help="torch.compile the training step (long GPU runs)"
        )
        parser.add_argument(
            "--k-per-class", type=int, help="keep K labeled training images per class (low-data regime)"
        )
        parser.add_argument(
            "--log-to",
            action="append",
            choices=tracking.BACKENDS,
            help="also log every epoch, the config and the outputs to TensorBoard (OUT/tensorboard) or MLflow "
            "(OUT/mlruns, or $MLFLOW_TRACKING_URI); repeatable; needs pip install 'genclf[tracking]'",
        )


def _spec_forms(schemes) -> list[str]:
    return [f"{n}:PATH" if schemes.get(n).needs_argument else n for n in schemes.names()]


def config_from_args(
    cls: type[T],
    args: argparse.Namespace,
    path: Path | None = None,
    drop: tuple[str, ...] = (),
    base: dict | None = None,
) -> T:
    """The validated config ``cls`` from ``path`` (or --config, or the mapping ``base``), --set and the common
    flags (flags win)."""
    overrides, flags = _overrides(args, drop)
    return load_config(cls, path or getattr(args, "config", None), overrides, flags, base=base)


def _overrides(args: argparse.Namespace, drop: tuple[str, ...] = ()) -> tuple[list[Any], dict[str, str]]:
    """--set's overrides and the common flags' values as (key, value) overrides, and {key: the flag}."""
    overrides: list[Any] = list(getattr(args, "overrides", []) or [])
    flags = {}
    for dest, key in COMMON_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None and dest not in drop:
            overrides.append((key, value))
            flags[key] = "--" + dest.replace("_", "-")
    return overrides, flags


def check_keys(cls: type, args: argparse.Namespace) -> None:
    """Refuse a --set key or a flag value that no ``cls`` config takes (unknown key, wrong type), at once:
    before the data is read and before torch is imported."""
    from genclf.config import apply_overrides, from_dict, locate, to_dict

    overrides, flags = _overrides(args)
    try:
        from_dict(cls, apply_overrides(to_dict(cls()), overrides))
    except ConfigError as exc:
        raise locate(exc, None, overrides, flags) from None


def data_defaults(args: argparse.Namespace, default_spec: str, schedule: bool) -> dict | None:
    """Without a config file, a one-model job takes its image size and channels (and, with ``schedule``,
    epochs and batch size) from the data, as ``genclf run --data`` plans them; printed, and flags still win."""
    if args.config is not None:
        return None
    from genclf.config import flatten
    from genclf.run import plan

    base = plan.job_defaults(args.data or default_spec, schedule, getattr(args, "model", None))
    say(args, "defaults from the data: " + ", ".join(f"{k} {v}" for k, v in flatten(base).items()))
    return base


def say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message)


def prepare_training(args: argparse.Namespace, config, command: str):
    """Output folder, data and split of a training command; checks that ``--resume`` has something to resume."""
    from genclf.data import load_dataset, make_split
    from genclf.training.checkpoint import STATE_FILE

    if args.resume and args.out is None:
        raise CheckpointError("--resume", "needs --out DIR, the folder of the interrupted run")
    out = check_output_folder(args.out or default_out(command))
    args.out = out  # where environment.json goes
    if args.resume and not (out / STATE_FILE).is_file():
        raise CheckpointError(
            out, f"no {STATE_FILE} to resume from (expected the folder of an interrupted 'genclf {command}')"
        )
    if args.resume and (out / "config.yaml").is_file():
        changes = config_changes(read_yaml(out / "config.yaml"), to_dict(config))
        if changes:
            raise CheckpointError(
                out,
                f"was trained with another config ({'; '.join(changes[:4])}); resume with the same settings, "
                "or train into a new --out",
            )
    tracking.check_backends(getattr(args, "log_to", None))
    d = config.data
    data = load_dataset(d.spec, d.image_size, d.channels)
    split = make_split(data, config.seed, d.val_fraction, d.test_fraction, d.k_per_class, d.imbalance)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    tracking.start(getattr(args, "log_to", None), out, f"{command} {out.name}", to_dict(config))
    return out, data, split


def model_job_arguments(names: tuple[str, ...], kind: str, default: str) -> Callable[[argparse.ArgumentParser], None]:
    """The arguments of a command that trains one model: the common flags, --model (the shipped ``names`` in
    its help; the registry checks the name when the command runs, so a model registered by the user's own
    module is accepted too), --resume."""

    def arguments(p: argparse.ArgumentParser) -> None:
        add_common(p)
        p.add_argument("--model", help=f"{kind}: {', '.join(names)} (default: {default})")
        add_resume(p)

    return arguments


def prepare_job(args: argparse.Namespace, cls: type[T], registry, command: str, base: dict | None = None):
    """The validated job config (its ``model`` checked against ``registry``; ``base``: defaults under the
    flags), then its output folder, data and split: nothing is loaded before the config is known to be good."""
    config = config_from_args(cls, args, base=base)
    registry.get(config.model, "model")
    from genclf.models.classifiers import CLASSIFIERS, check_options
    from genclf.models.layers import check_option_bounds

    if registry is CLASSIFIERS:
        check_options(config.model, dict(config.options or {}))
    check_option_bounds(dict(config.options or {}))  # every model's, before anything is written
    return (config, *prepare_training(args, config, command))


def resumable(args: argparse.Namespace, out: Path, config: TrainConfig, seed: int) -> Fit:
    """A command's ``Fit``: ``config`` and ``seed``, keeping (and with --resume continuing) its state in ``out``."""
    from genclf.training.fit import Fit

    return Fit(config, seed, state_dir=out, resume=args.resume, quiet=args.quiet)


def add_resume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint"
    )


def add_checkpoint(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help=f"folder written by 'genclf {command}'")


def add_inference_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=512, help="images per forward pass (lower it to save memory)")


def inference_batch(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ConfigError("--batch-size", f"must be >= 1, got {args.batch_size}")
    return args.batch_size


def recorded_training(checkpoint: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config a checkpoint was trained with and its ``data`` section ({} where absent or malformed)."""
    from genclf.training.checkpoint import read_meta_json

    config = read_meta_json(checkpoint).get("config")
    config = config if isinstance(config, dict) else {}
    return config, config.get("data") if isinstance(config.get("data"), dict) else {}


def recorded_split(checkpoint: Path, data, default_seed: int = 0):
    """The split ``checkpoint`` was trained with (its seed and fractions) rebuilt on ``data``: its training
    images never reach the evaluation test set."""
    from genclf.data import make_split

    config, saved = recorded_training(checkpoint)
    return make_split(
        data, int(config.get("seed", default_seed)), saved.get("val_fraction", 0.1), saved.get("test_fraction", 0.2)
    )
