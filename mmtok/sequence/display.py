"""Readable views of token sequences."""

from __future__ import annotations

from itertools import groupby


def shorten_runs(tokenizer, ids, *, min_run: int = 4) -> str:
    """Decode `ids`, writing each run of one repeated special token as `<|image_pad|> x 216`."""
    id_to_special = {v: k for k, v in tokenizer.special_tokens.items()}
    parts: list[str] = []
    pending: list[int] = []
    for token_id, group in groupby(int(i) for i in ids):
        run = len(list(group))
        if token_id in id_to_special and run >= min_run:
            if pending:
                parts.append(tokenizer.decode(pending))
                pending = []
            parts.append(f"{id_to_special[token_id]} x {run}")
        else:
            pending.extend([token_id] * run)
    if pending:
        parts.append(tokenizer.decode(pending))
    return "".join(parts)
