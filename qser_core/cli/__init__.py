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
import errno
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Sequence

from qser_core.cli import bench, data, experiments, hardware, runs, sweep
from qser_core.cli.common import add_command, config_from, emit
from qser_core.errors import ConfigError, QserError

__all__ = ["console", "main", "build_parser"]

#: Command-group modules, in the order ``qser --help`` lists them.
COMMAND_GROUPS = (data, experiments, runs, hardware, sweep, bench)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) received: handled like Ctrl-C, so a recorded run is marked interrupted, not left RUNNING."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"received {signal.Signals(signum).name}")


def _handle_termination() -> dict:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (main thread only); return the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    names = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    return {sig: signal.signal(sig, _raise_terminated) for sig in names}


def _report_unsaved() -> int:
    """Name every run whose results the store refused (kept locally); 1 if there were any."""
    from qser_core.tracking.unsaved import unsaved_runs

    for folder in unsaved_runs():
        print(f"qser: the run store refused results; they are kept in {folder}. Re-import them with: "
              f"qser runs import {folder}", file=sys.stderr)
    return 1 if unsaved_runs() else 0


#: OS errors that mean "this folder cannot take the write", not a bug: reported in one line.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_message(exc: OSError) -> str:
    """One line for a write the file system refused: where, why, what to do."""
    from qser_core.cli.common import mount_point

    where = exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        disk = mount_point(Path(exc.filename).parent) if exc.filename else "the disk"
        return (f"no space left on {disk} while writing {where}; free some space or use another QSER_HOME, then run "
                "again (finished work is kept: caches and recorded runs)")
    return (f"cannot write {where} ({exc.strerror}): its folder is read-only: use another QSER_HOME "
            "(export QSER_HOME=DIR), or --no-track where it is the run store")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as qser prints it: the message only (the source line that raised it is not for users)."""
    return f"qser: warning: {message}\n"


class _DropMessage(logging.Filter):
    """Drops log records whose message starts with ``prefix`` (a library's notice that says nothing to a qser user)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


#: Library notices that are not news to a qser user: (logger, message prefix).
_QUIET = (
    # qser passes the IBM key it read from the environment on purpose; "a saved account will not be used" is noise.
    ("qiskit_ibm_runtime.qiskit_runtime_service", "Loading account with the given token"),
)


def _quiet_libraries() -> list[tuple[logging.Logger, logging.Filter]]:
    added = []
    for name, prefix in _QUIET:
        log, quiet = logging.getLogger(name), _DropMessage(prefix)
        log.addFilter(quiet)
        added.append((log, quiet))
    return added


def console() -> int:
    """The ``qser`` console script and ``python -m qser_core.cli``: :func:`main`, then a quick exit.

    ``gc.freeze()`` once the command is done moves every object out of the collector's reach, so the
    interpreter's shutdown does not walk the millions that torch and SciPy create: 0.2 s of the 0.3 s
    a process that imported torch spends exiting (measured: ``python -c "import torch"`` 1.38 s,
    with ``gc.freeze()`` 1.19 s). Only here, never in :func:`main`, which tests and notebooks call in-process.
    """
    import gc

    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qser`` with ``argv`` (default: the process's arguments); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    formatwarning, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    quiet = _quiet_libraries()
    try:
        return _run(args)
    finally:  # main() called in-process (tests, notebooks) leaves no trace
        warnings.formatwarning = formatwarning
        for log, quiet_filter in quiet:
            log.removeFilter(quiet_filter)


def _run(args: argparse.Namespace) -> int:
    previous = _handle_termination()
    try:
        code = args.handler(args)
    except ConfigError as exc:
        print(f"qser: configuration error: {exc}", file=sys.stderr)
        code = 2
    except QserError as exc:
        print(f"qser: {exc}", file=sys.stderr)
        code = 1
    except Terminated as exc:
        print(f"qser: {exc}; stopped. Finished work is kept (caches and recorded runs)", file=sys.stderr)
        code = 143
    except KeyboardInterrupt:
        print("qser: interrupted; finished work is kept (caches and recorded runs)", file=sys.stderr)
        code = 130
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise  # anything else is a bug and keeps its traceback
        print(f"qser: {storage_message(exc)}", file=sys.stderr)
        code = 1
    finally:
        for sig, handler in previous.items():  # main() called in-process (tests, notebooks) leaves no trace
            signal.signal(sig, handler)
    return max(code, _report_unsaved())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
