"""`mmtok text`: text tokenizers on their own. `count` counts the tokens of text files for several
tokenizers side by side; `show` makes the token boundaries of a text visible (terminal colours, a
bracketed plain form, or an HTML page), with ids, and with --by-kind what the tokens are spent on.
Training commands (`mmtok text train ...`) come from text_train.py when it is installed.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import sys

from .output import emit_json, note, table

# alternating token backgrounds (256-colour palette: light blue, light orange, light green, light pink)
ANSI_BACKGROUNDS = ("\x1b[48;5;153m", "\x1b[48;5;223m", "\x1b[48;5;194m", "\x1b[48;5;225m")
ANSI_TEXT = "\x1b[30m"  # black text on the light backgrounds
ANSI_SHARED = "\x1b[4m"  # underlined: ids that share a character
ANSI_RESET = "\x1b[0m"
HTML_BACKGROUNDS = ("#cfe8ff", "#ffe4c4", "#d7f5d7", "#ffd6ec")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "text",
        help="text tokenizers: count tokens of files, show token boundaries",
        description="Text tokenizers on their own. A tokenizer is a registered name (qwen2, cl100k_base, "
        "qwen-vl) or the path of a tokenizer.json; several are given as a comma list.",
    )
    text_sub = p.add_subparsers(dest="text_command", metavar="SUBCOMMAND")
    p.set_defaults(run=lambda args: _help(p))

    c = text_sub.add_parser(
        "count",
        help="tokens per text file and in total, one column per tokenizer",
        description="Tokens per file and in total for one or several tokenizers, with characters, bytes and "
        "characters per token. Folders are searched recursively for text files (UTF-8 without NUL bytes; "
        "folders starting with '.' are skipped). Files are read as UTF-8 as they are (line endings and BOM "
        "kept). Unreadable or non-UTF-8 files are reported and the rest still counted; the exit status is 1 "
        "if any file failed. Special-token spellings count as ordinary text unless --allow-special.",
    )
    c.add_argument("paths", nargs="+", metavar="PATH", help="text files or folders")
    _common(c)
    c.set_defaults(run=run_count)

    s = text_sub.add_parser(
        "show",
        help="show token boundaries and ids of a text",
        description="The tokens of a text: coloured backgrounds in a terminal (or with --color always), "
        "[bracketed] pieces otherwise, an HTML page with --html. Ids that together spell one character "
        "(a byte-level BPE cuts UTF-8 bytes) are shown as one piece, their ids joined with '+'.",
    )
    s.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the text ('-': read standard input)")
    s.add_argument("--file", default=None, metavar="PATH", help="show the text of this UTF-8 file instead")
    _common(s)
    s.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour the tokens (auto: when stdout is a terminal)"
    )
    s.add_argument("--ids", action=argparse.BooleanOptionalAction, default=True, help="print the ids under the text (default: yes)")
    s.add_argument("--html", default=None, metavar="FILE", help="write a self-contained HTML page to FILE")
    s.set_defaults(run=run_show)

    if importlib.util.find_spec("mmtok.cli.text_train") is not None:
        from . import text_train

        text_train.add_parsers(text_sub)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tokenizer",
        default="qwen2",
        metavar="NAME[,NAME...]",
        help="tokenizer names or vocabulary files (tokenizer.json, ...), comma-separated (default: qwen2)",
    )
    p.add_argument(
        "--allow-special", action="store_true", help="encode special-token spellings (e.g. <|im_end|>) as control tokens"
    )
    p.add_argument(
        "--by-kind",
        action="store_true",
        help="also say how many tokens go to CJK, Latin, digits, whitespace, code/punctuation and other scripts",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def tokenizers(spec: str) -> list:
    """The tokenizers of a comma list (duplicates dropped, order kept)."""
    from ..errors import InvalidOptionError
    from ..text import get_tokenizer

    names = list(dict.fromkeys(name.strip() for name in spec.split(",") if name.strip()))
    if not names:
        raise InvalidOptionError("--tokenizer needs a name or a tokenizer.json path, e.g. --tokenizer qwen2,cl100k_base")
    return [get_tokenizer(name) for name in names]


def _ratio(chars: int, tokens: int) -> str:
    return f"{chars / tokens:.2f}" if tokens else "-"


# --- count ----------------------------------------------------------------------------------------


def run_count(args: argparse.Namespace) -> int:
    from ..text.counting import count_files, total

    toks = tokenizers(args.tokenizer)
    names = [t.name for t in toks]
    skipped: list[str] = []
    results, rows, failed = [], [], 0
    for result in count_files(args.paths, toks, allow_special=args.allow_special, by_kind=args.by_kind, skipped=skipped):
        if result.error is not None:
            failed += 1
            if args.json:
                emit_json(result.to_dict())
            else:
                note(f"mmtok: error: {result.error}")
            continue
        results.append(result)
        if args.json:
            emit_json(result.to_dict())
        else:
            rows.append(_count_row(result, names))
    if skipped:
        note(f"skipped {len(skipped):,} file{'s' if len(skipped) != 1 else ''} in folders that are not UTF-8 text (e.g. {skipped[0]})")
    summed = total(results, names)
    if args.json:
        emit_json({**summed.to_dict(), "path": None, "total": True, "files": summed.files, "failed": failed})
        return 1 if failed else 0
    rows.append(_count_row(summed, names, label="total" if summed.files == 1 else f"total ({summed.files:,} files)"))
    header = ["path", "chars", "bytes"]
    for name in names:
        header += [name, "chars/token" if len(names) == 1 else f"c/t {name}"]
    print(table(rows, header))
    if args.by_kind and summed.by_kind:
        print()
        print(kind_table(summed.by_kind))
    if failed:
        note(f"{failed:,} file{'s' if failed != 1 else ''} failed")
    return 1 if failed else 0


def _count_row(result, names: list[str], label: str | None = None) -> list[str]:
    row = [label or result.path, f"{result.chars:,}", f"{result.bytes:,}"]
    for name in names:
        n = result.tokens.get(name, 0)
        row += [f"{n:,}", _ratio(result.chars, n)]
    return row


def kind_table(by_kind: dict[str, dict]) -> str:
    """Kinds as rows, one tokens and one chars/token column per tokenizer."""
    from ..text.views import KINDS

    names = list(by_kind)
    rows = []
    for kind in KINDS:
        cells = [by_kind[name].get(kind) for name in names]
        if not any(cells):
            continue
        chars = next(c["chars"] for c in cells if c)
        row = [kind, f"{chars:,}"]
        for cell in cells:
            n = cell["tokens"] if cell else 0
            row += [f"{n:,}", _ratio(chars, n)]
        rows.append(row)
    header = ["kind", "chars"]
    for name in names:
        header += [f"tokens {name}" if len(names) > 1 else "tokens", "chars/token" if len(names) == 1 else f"c/t {name}"]
    return table(rows, header)


# --- show -----------------------------------------------------------------------------------------


def _show_text(args: argparse.Namespace) -> str:
    from ..errors import InvalidOptionError

    if args.file is not None:
        if args.text is not None:
            raise InvalidOptionError("give the text or --file PATH, not both")
        from ..text.counting import read_text

        return read_text(args.file)[0]
    if args.text is None:
        raise InvalidOptionError("give the text to show, e.g. mmtok text show 'Hello, world!' (or '-' for standard input, or --file PATH)")
    return sys.stdin.read() if args.text == "-" else args.text


def run_show(args: argparse.Namespace) -> int:
    from ..text.views import token_view

    text = _show_text(args)
    policy = {"allowed_special": "all"} if args.allow_special else {}
    views = [token_view(tok, text, **policy) for tok in tokenizers(args.tokenizer)]
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_html(views, by_kind=args.by_kind))
        note(f"wrote {args.html}")
    if args.json:
        for view in views:
            record = view.to_dict()
            if args.by_kind:
                record["by_kind"] = view.by_kind()
            emit_json(record)
        return 0
    if args.html:
        return 0
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    for k, view in enumerate(views):
        if k:
            print()
        print(legend(view))
        print(render_ansi(view) if color else render_plain(view))
        if args.ids:
            print(render_ids(view, color=color))
        if args.by_kind:
            print(kind_table({view.tokenizer: view.by_kind()}))
    return 0


def legend(view) -> str:
    return f"{view.tokenizer}: {legend_stats(view)}"


def legend_stats(view) -> str:
    """Tokens, characters, characters per token, and what is special about the pieces."""
    chars = len(view.text)
    line = f"{view.num_tokens:,} tokens, {chars:,} chars, {_ratio(chars, view.num_tokens)} chars/token"
    shared = sum(1 for p in view.pieces if p.shared)
    if shared:
        line += f"; {shared:,} pieces spelled by several ids (joined with +)"
    if not view.exact:
        line += "; this tokenizer rewrites its input, so the pieces show the text its tokens spell"
    return line


def render_plain(view) -> str:
    """Each piece in brackets: [Hello][,][ world]."""
    return "".join(f"[{piece.text}]" for piece in view.pieces)


def render_ansi(view) -> str:
    """Each piece on an alternating background; shared pieces underlined. Without the escape codes the
    result is the text itself (colours are closed before a newline, so they do not bleed)."""
    out = []
    for k, piece in enumerate(view.pieces):
        style = ANSI_BACKGROUNDS[k % len(ANSI_BACKGROUNDS)] + ANSI_TEXT + (ANSI_SHARED if piece.shared else "")
        lines = piece.text.split("\n")
        out.append(f"{ANSI_RESET}\n".join(style + line for line in lines) + ANSI_RESET)
    return "".join(out)


def render_ids(view, *, color: bool = False) -> str:
    """The ids, a piece's ids joined with '+', coloured like their pieces when `color`."""
    out = []
    for k, piece in enumerate(view.pieces):
        ids = "+".join(str(i) for i in piece.ids)
        out.append(f"{ANSI_BACKGROUNDS[k % len(ANSI_BACKGROUNDS)]}{ANSI_TEXT}{ids}{ANSI_RESET}" if color else ids)
    return " ".join(out)


_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
.tokens { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9; border: 1px solid #ccc; padding: 0.6em; }
.tokens span { border-radius: 3px; }
.shared { text-decoration: underline dotted; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.1em 0.8em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
""" + "".join(f".t{k} {{ background: {c}; }}\n" for k, c in enumerate(HTML_BACKGROUNDS))


def render_html(views: list, *, by_kind: bool = False) -> str:
    """A self-contained page: per tokenizer a legend (tokens, characters, characters per token; by
    kind if asked) and the text with one <span title="ids"> per piece. Everything is escaped."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>mmtok text show</title>',
        f"<style>{_HTML_STYLE}</style></head><body>",
        "<h1>mmtok text show</h1>",
        "<p>Each coloured span is one token; hover for its id. Dotted underline: several ids that together "
        "spell one character.</p>",
    ]
    for view in views:
        parts.append(f"<section><h2>{e(view.tokenizer)}</h2>")
        parts.append(f'<p class="legend">{e(legend_stats(view))}</p>')
        if by_kind:
            parts.append(_html_kind_table(view.by_kind()))
        spans = []
        for k, piece in enumerate(view.pieces):
            cls = f"t{k % len(HTML_BACKGROUNDS)}" + (" shared" if piece.shared else "")
            ids = " ".join(str(i) for i in piece.ids)
            title = f"ids {ids} (one character)" if piece.shared else f"id {ids}"
            spans.append(f'<span class="{cls}" title="{e(title)}">{e(piece.text)}</span>')
        parts.append('<div class="tokens">' + "".join(spans) + "</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_kind_table(summary: dict[str, dict]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(kind)}</td><td>{row['chars']:,}</td><td>{row['tokens']:,}</td><td>{_ratio(row['chars'], row['tokens'])}</td></tr>"
        for kind, row in summary.items()
    )
    return f'<table class="kinds"><tr><th>kind</th><th>chars</th><th>tokens</th><th>chars/token</th></tr>{rows}</table>'
