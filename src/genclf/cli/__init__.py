"""Command-line interface: a table of commands (name, arguments, handler), each calling the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 internal bug (traceback).
No module of the library imports this package.

Start-up is fast: ``INDEX`` names every command with its one-line help and the module that defines it, and
only the module of the command being run is imported (``genclf --help``, ``--version`` and ``datasets``
import no torch, scikit-learn or pandas).
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
import warnings
from pathlib import Path

import genclf.training.tracking as tracking
from genclf.cli.common import EXIT_BUG, EXIT_OK, EXIT_USAGE, Command, HelpFormatter, Parser
from genclf.errors import GenclfError

__all__ = ["INDEX", "build_parser", "main"]

# command -> (module under genclf.cli, one-line help), in the order of 'genclf --help'
INDEX: dict[str, tuple[str, str]] = {
    "run": ("run_commands", "the main job: strategies x seeds, results table and figures"),
    "merge": ("run_commands", "combine the run folders of 'genclf run --shard I/N' into one run"),
    "report": ("run_commands", "re-render summary.json, figures and report.html of a finished run"),
    "train": ("classifier_commands", "train one classifier"),
    "evaluate": ("classifier_commands", "score a trained classifier on a dataset's test split"),
    "predict": ("classifier_commands", "classify image files"),
    "export": ("classifier_commands", "export a trained classifier to ONNX"),
    "train-generator": ("generator_commands", "train a class-conditional generator (cgan, cvae, ddpm)"),
    "sample": ("generator_commands", "generate images from a trained generator"),
    "evaluate-generator": ("generator_commands", "FID/KID, precision/recall/density/coverage and CAS of a generator"),
    "train-colorizer": ("colorize_commands", "train a grey -> colour model (pix2pix, or the L1-only U-Net)"),
    "colorize": ("colorize_commands", "colorize grey images with a trained colorizer"),
    "datasets": ("data_commands", "list data schemes, or describe one dataset"),
}


def command(name: str) -> Command:
    """The full declaration of command ``name`` (imports its module)."""
    module = importlib.import_module(f"genclf.cli.{INDEX[name][0]}")
    return next(c for c in module.COMMANDS if c.name == name)


def _chosen(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is one), if any."""
    return next((word for word in argv if word in INDEX), None)


def build_parser(argv: list[str] | None = None) -> Parser:
    """The parser; with ``argv`` only the command it names gets its arguments (and its module imported)."""
    from genclf.version import __version__

    parser = Parser(prog="genclf", description="Image classification assisted by image generation.")
    parser.add_argument("--version", action="version", version=f"genclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = _chosen(argv) if argv is not None else None
    for name, (_, help_text) in INDEX.items():
        if argv is not None and name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        full = command(name)
        p = sub.add_parser(name, help=help_text, description=full.description, formatter_class=HelpFormatter)
        full.arguments(p)
        p.set_defaults(handler=full.handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda message, category, *rest, **kw: f"genclf: warning: {message}\n"
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for all
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        args.quiet = True
        warnings.simplefilter("ignore")
    out = getattr(args, "out", None)
    fresh = out is not None and not Path(out).exists()
    try:
        try:
            code = args.handler(args)
        finally:
            tracking.finish()
        _record_environment(args)
    except GenclfError as exc:
        sys.stderr.write(f"genclf: error: {' '.join(str(exc).split())}\n")
        if fresh:
            _remove_if_empty(Path(out))
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("genclf: interrupted\n")
        return 130
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRORS:
            return _bug()
        where = exc.filename or getattr(args, "out", None) or "output"
        sys.stderr.write(f"genclf: error: {where}: {_ENVIRONMENT_ERRORS[exc.errno]}\n")
        if fresh:
            _remove_if_empty(Path(out))
        return EXIT_USAGE
    except Exception:
        return _bug()
    return code if isinstance(code, int) else EXIT_OK


# failures of the machine, not of genclf: one line and exit 2; what was written stays whole (atomic writes), and
# 'genclf run' resumes where it stopped
_ENVIRONMENT_ERRORS = {
    errno.ENOSPC: "no space left on the device; free some and run again (a run resumes where it stopped)",
    errno.EDQUOT: "disk quota exceeded; free some space and run again (a run resumes where it stopped)",
    errno.EROFS: "read-only file system; write to another --out",
    errno.EACCES: "permission denied; write to another --out or fix the permissions",
    errno.EPERM: "operation not permitted; write to another --out or fix the permissions",
    errno.ENAMETOOLONG: "file name too long; choose a shorter --out",
}


def _remove_if_empty(out: Path) -> None:
    """A refused command leaves nothing behind: the --out folder it created, if nothing was written there."""
    try:
        entries = list(out.iterdir()) if out.is_dir() else None
        if entries is not None and all(e.name == ".genclf.lock" for e in entries):
            for entry in entries:
                entry.unlink()
            out.rmdir()
    except OSError:
        pass


def _bug() -> int:
    traceback.print_exc()
    sys.stderr.write("genclf: internal error (a bug in genclf); please report it with the traceback above\n")
    return EXIT_BUG


def _record_environment(args) -> None:
    """``environment.json`` (versions, device, CPU, git revision) in the output folder of the command."""
    out = getattr(args, "out", None)
    if out is not None and Path(out).is_dir() and os.environ.get("RANK", "0") == "0":
        from genclf.files import write_json
        from genclf.runtime.environment import describe_environment

        write_json(Path(out) / "environment.json", describe_environment(getattr(args, "device", None)))
