"""The pieces a chat template renders into, before any text is encoded.

Keeping control tokens, user text and media slots apart until encoding is what lets mmtok refuse to
turn a special token's spelling inside user text into a control token, and expand each media slot to
its exact token count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Special:
    """A control token written by the template (e.g. <|im_start|>), `count` times in a row."""

    token: str
    count: int = 1


@dataclass(frozen=True)
class Text:
    """Text; `user` marks text that came from the messages rather than from the template."""

    text: str
    user: bool = False


@dataclass(frozen=True)
class Media:
    """The slot of the `index`-th image (or video) of the conversation, expanded by its family."""

    kind: str
    index: int
    #: the message's content item (holding the source), where it is known
    item: Any = field(default=None, compare=False, hash=False, repr=False)
    #: where the item sits in the messages, for error messages
    where: str = field(default="", compare=False, hash=False)


@dataclass(frozen=True)
class Turn:
    """Where a message (`role`) or the generation prompt (role "generation") starts; writes no token.
    Training labels are cut at these marks."""

    role: str


Piece = Special | Text | Media | Turn
