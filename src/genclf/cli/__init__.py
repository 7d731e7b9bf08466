"""Command-line interface: a table of commands (name, arguments, handler), each calling the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 internal bug (traceback).
No module of the library imports this package.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

from genclf.cli.common import EXIT_BUG, EXIT_OK, EXIT_USAGE, Command, Parser
from genclf.errors import GenclfError

__all__ = ["build_parser", "main"]


def _commands() -> list[Command]:
    from genclf.cli import classifier_commands, colorize_commands, generator_commands, run_commands

    return [
        *run_commands.COMMANDS,
        *classifier_commands.COMMANDS,
        *generator_commands.COMMANDS,
        *colorize_commands.COMMANDS,
    ]


def build_parser() -> Parser:
    from genclf import __version__

    parser = Parser(prog="genclf", description="Image classification assisted by image generation.")
    parser.add_argument("--version", action="version", version=f"genclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in _commands():
        p = sub.add_parser(command.name, help=command.help, description=command.description)
        command.arguments(p)
        p.set_defaults(handler=command.handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda message, category, *rest, **kw: f"genclf: warning: {message}\n"
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for all
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        args.quiet = True
        warnings.simplefilter("ignore")
    try:
        args.handler(args)
    except GenclfError as exc:
        sys.stderr.write(f"genclf: error: {' '.join(str(exc).split())}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("genclf: interrupted\n")
        return 130
    except Exception:
        traceback.print_exc()
        sys.stderr.write("genclf: internal error (a bug in genclf); please report it with the traceback above\n")
        return EXIT_BUG
    return EXIT_OK
