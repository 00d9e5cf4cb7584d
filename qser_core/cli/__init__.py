"""qser: the QSER Lab command line (data, embeddings, training, evaluation, prediction).

``qser --help`` lists the subcommands; ``qser SUBCOMMAND --help`` shows each one's options and defaults.
Every command takes ``--config PATH`` and repeatable ``--set section.field=value``; ``--json`` prints
exactly one JSON object on stdout, with progress and logs on stderr. Exit codes: 0 success, 2 usage or
configuration error, 1 any other QSER Lab error.

One module per command group registers its subcommands (``register(sub)``): ``data`` (data, extract),
``experiments`` (evaluate, train, hybrid, predict), ``runs`` (runs, compare), ``hardware``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from qser_core.cli import data, experiments, hardware, runs
from qser_core.cli.common import add_command, config_from, emit
from qser_core.errors import ConfigError, QserError

__all__ = ["main", "build_parser"]

#: Command-group modules, in the order ``qser --help`` lists them.
COMMAND_GROUPS = (data, experiments, runs, hardware)


def _cmd_config_show(args: argparse.Namespace) -> int:
    config = config_from(args)
    emit(args, config.to_dict(), config.to_toml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``qser`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="qser", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    config = sub.add_parser("config", help="show the resolved configuration").add_subparsers(
        dest="config_command", metavar="ACTION", required=True)
    add_command(config, "show", _cmd_config_show, "print the resolved configuration as TOML")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qser`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"qser: configuration error: {exc}", file=sys.stderr)
        return 2
    except QserError as exc:
        print(f"qser: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qser: interrupted; finished work is kept (caches and recorded runs)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
