"""`mmtok` command line: a thin shell over the library. Data goes to stdout, messages to stderr.

Exceptions become one-line messages and exit codes here, in one place; --debug shows tracebacks.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import MmtokError
from . import count, data, discrete, ground, lineage, models, text, tokenize

COMMANDS = (tokenize, count, ground, models, data, text, lineage, discrete)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmtok", description="The multimodal tokenizer for vision-language models."
    )
    parser.add_argument("--version", action="version", version=f"mmtok {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except MmtokError as e:
        if args.debug:
            raise
        print(f"mmtok: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mmtok: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
