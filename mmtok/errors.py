"""Typed errors. Each one names the input, what was expected, and what the user can do about it.

Everything mmtok raises on purpose derives from `MmtokError`, so a caller (and the CLI, in one place)
can tell a user's mistake from a bug. Input errors also derive from `ValueError` (or
`FileNotFoundError`) so code written against the reference processors keeps catching them.
"""

from __future__ import annotations


class MmtokError(Exception):
    """Base class of every error mmtok raises on purpose."""

    #: exit status the CLI uses for this kind of error
    exit_code = 1


class UnknownNameError(MmtokError, KeyError):
    """A registry lookup for a name that is not registered."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, list(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class MissingDependencyError(MmtokError, ImportError):
    """An optional dependency is needed for this feature."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        how = f"pip install 'mmtok[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package {package!r}, which is not installed; {how}")


class InvalidOptionError(MmtokError, ValueError):
    """An option value that cannot work (e.g. min_pixels above max_pixels)."""

    exit_code = 2


# --- images ---------------------------------------------------------------------------------------


class ImageError(MmtokError, ValueError):
    """Base class of problems with one image input. `source` names the input."""

    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"{source}: {message}")


class ImageNotFoundError(ImageError, FileNotFoundError):
    def __init__(self, source: str):
        super().__init__(source, "no such file; check the path (relative paths are taken from the current directory)")


class NotAnImageError(ImageError):
    def __init__(self, source: str, detail: str = ""):
        extra = f" ({detail})" if detail else ""
        super().__init__(
            source,
            f"not a readable image{extra}; pass a JPEG, PNG, WebP, GIF, BMP or TIFF file, or skip it",
        )


class TruncatedImageError(ImageError):
    def __init__(self, source: str, detail: str):
        super().__init__(source, f"is truncated ({detail}); re-download or re-encode it, or skip it")


class EmptyImageError(ImageError):
    def __init__(self, source: str, size: tuple[int, int]):
        super().__init__(source, f"has a zero-sized side (height x width = {size[0]} x {size[1]}); it has no pixels to tokenize")


class AspectRatioError(ImageError):
    def __init__(self, source: str, size: tuple[int, int], limit: float):
        h, w = size
        ratio = max(h, w) / min(h, w)
        super().__init__(
            source,
            f"aspect ratio {ratio:.1f} (height x width = {h} x {w}) is over the model's limit of {limit:g}; "
            "crop or pad the image before tokenizing it",
        )
        self.size, self.ratio, self.limit = size, ratio, limit


class ImageModeError(ImageError):
    """Pillow cannot convert this image's mode to RGB (e.g. "La", premultiplied luminance-alpha)."""

    def __init__(self, source: str, mode: str):
        self.mode = mode
        super().__init__(
            source,
            f"has Pillow mode {mode!r}, which Pillow cannot convert to RGB (the reference fails on it too); "
            "convert it yourself first, e.g. image.convert('LA') or image.convert('RGBA')",
        )


class ImageTooLargeError(ImageError):
    def __init__(self, source: str, size: tuple[int, int], limit: int):
        h, w = size
        super().__init__(
            source,
            f"has {h * w:,} pixels (height x width = {h} x {w}), over the decompression-bomb limit of {limit:,}; "
            "if you trust the file, raise PIL.Image.MAX_IMAGE_PIXELS, or downscale it first",
        )


class UnsupportedInputError(MmtokError, TypeError):
    def __init__(self, what: str, got: object, allowed: str):
        super().__init__(f"{what}: cannot use an input of type {type(got).__name__}; pass {allowed}")


# --- text -----------------------------------------------------------------------------------------


class SpecialTokenError(MmtokError, ValueError):
    """Text contains the spelling of a special token, and the policy does not allow it."""

    def __init__(self, token: str, where: str = "text", fix: str | None = None):
        self.token = token
        fix = fix or (
            f"pass allowed_special={{{token!r}}} (or 'all') to encode it as the control token, or "
            "disallowed_special=() to encode it as ordinary text"
        )
        super().__init__(
            f"{where} contains the special token {token!r} as plain text. It is not turned into the control token "
            f"silently: {fix}"
        )


class VocabFileError(MmtokError, ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")


# --- messages -------------------------------------------------------------------------------------


class MessageFormatError(MmtokError, ValueError):
    """A chat message list that is not in the HF content-list form."""


# --- text (token ids) -----------------------------------------------------------------------------


class TokenIdError(MmtokError, ValueError):
    """A token id that is not in a text tokenizer's vocabulary (often: ids made by another tokenizer)."""

    def __init__(self, tokenizer: str, token_id: object, n_vocab: int):
        self.tokenizer, self.token_id = tokenizer, token_id
        what = f"token id {token_id!r}" if token_id is not None else "a token id"
        super().__init__(
            f"{what} is not in the vocabulary of the text tokenizer {tokenizer!r} ({n_vocab:,} tokens); "
            "decode ids with the tokenizer that made them"
        )


class ImageSpanError(MmtokError, ValueError):
    """An <img>...</img> span the Qwen-VL tokenizer cannot encode (unclosed, too long, or holding a
    special token)."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"qwen-vl image span: {problem}; {fix}")


class VocabularyNeededError(MmtokError, ValueError):
    """A model family whose checkpoints' tokenizer mmtok does not ship (nothing is downloaded)."""

    exit_code = 2

    def __init__(self, model: str, tokenizer: str):
        super().__init__(
            f"{model}: token ids need the checkpoint's tokenizer ({tokenizer}), which mmtok does not ship and never "
            "downloads; pass tokenizer='path/to/tokenizer.json' from the checkpoint (plans and counts need none)"
        )


class CountOnlyError(MmtokError, ValueError):
    """A model known only by its provider's published token formula: it has plans, not pixels or ids."""

    exit_code = 2

    def __init__(self, model: str):
        super().__init__(
            f"{model} is counted from its provider's published formula only; use mmtok.plan_image or `mmtok count` "
            "(it has no processor: the provider does its own preprocessing)"
        )


# --- grounding ------------------------------------------------------------------------------------


class GroundingError(MmtokError, ValueError):
    """Boxes or points given to mmtok that cannot be converted (wrong arity, not numbers, ...)."""

    exit_code = 2


class GroundingParseError(GroundingError):
    """Model output whose boxes or points cannot be read. `text` is the offending part of the output."""

    def __init__(self, model: str, text: str, problem: str, fix: str | None = None):
        self.model, self.text = model, text
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__(f"{model} output {shown!r}: {problem}" + (f"; {fix}" if fix else ""))


# --- videos ---------------------------------------------------------------------------------------


class VideoError(MmtokError, ValueError):
    """Base class of problems with one video input. `source` names the input."""

    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"{source}: {message}")


class VideoNotFoundError(VideoError, FileNotFoundError):
    def __init__(self, source: str):
        super().__init__(source, "no such file; check the path (relative paths are taken from the current directory)")


class NotAVideoError(VideoError):
    def __init__(self, source: str, detail: str = ""):
        extra = f" ({detail})" if detail else ""
        super().__init__(
            source,
            f"not a readable video{extra}; pass a video file PyAV/FFmpeg can open (MP4, MKV, WebM, AVI, MOV, ...), "
            "a list of frame images, or a (T, H, W, 3) uint8 array",
        )


class EmptyVideoError(VideoError):
    def __init__(self, source: str, detail: str = "it has no frames"):
        super().__init__(source, f"{detail}; there is nothing to sample, skip it")


class TruncatedVideoError(VideoError):
    def __init__(self, source: str, detail: str):
        super().__init__(source, f"is truncated ({detail}); re-download or re-encode it, or skip it")


class VideoSamplingError(VideoError):
    """The sampling options select no valid set of frames for this video (too short, range empty, ...)."""

    exit_code = 2

    def __init__(self, source: str, problem: str, fix: str):
        super().__init__(source, f"{problem}; {fix}")


# --- sequences ------------------------------------------------------------------------------------


class TruncationError(MmtokError, ValueError):
    """Cutting a sequence to max_length would cut (or drop) an image's or a video's tokens, which would
    later fail as "image features and image tokens do not match"."""

    def __init__(self, sample: int, kind: str, index: int, span: tuple[int, int], length: int, max_length: int):
        self.sample, self.kind, self.index, self.span = sample, kind, index, span
        self.length, self.max_length = length, max_length
        start, end = span
        super().__init__(
            f"sample {sample}: max_length {max_length:,} would cut {kind} {index + 1} (its tokens span positions "
            f"{start:,} to {end - 1:,} of a {length:,}-token sequence); raise max_length to at least {end:,}, "
            "lower max_pixels, or drop the sample"
        )


class ImageTokenSpanError(InvalidOptionError):
    """A token sequence whose discrete-image span (image start ... image end, mmtok.discrete.sequence)
    cannot be read back: unclosed, empty, a code or marker outside a span, a text token inside one,
    or a size prefix / row structure that does not match the codes."""


class ProviderRejectsImageError(ImageError):
    """An image an API provider documents it rejects (e.g. Anthropic: over 8000 x 8000 px), so it has no count."""

    def __init__(self, source: str, size: tuple[int, int], provider: str, limit: str):
        h, w = size
        self.size, self.provider, self.limit = size, provider, limit
        super().__init__(
            source,
            f"is {h:,} x {w:,} px (height x width); {provider} rejects images over {limit}, so it has no token "
            "count; downscale it before sending it",
        )


class ResizedTooSmallError(AspectRatioError):
    """The model's resize would leave a side of the image below what its processor accepts (the reference
    fails on it), which happens only at extreme aspect ratios."""

    def __init__(self, source: str, size: tuple[int, int], resized: tuple[int, int], minimum: int):
        h, w = size
        self.size, self.ratio, self.limit, self.resized = size, max(h, w) / min(h, w), None, resized
        ImageError.__init__(
            self,
            source,
            f"aspect ratio {self.ratio:.1f} (height x width = {h} x {w}) is too extreme for this model: it would be "
            f"resized to {resized[0]} x {resized[1]} px, and the reference needs at least {minimum} px per side; "
            "crop or pad the image before tokenizing it",
        )


# --- text files -----------------------------------------------------------------------------------


class TextFileError(MmtokError, ValueError):
    """A text file that cannot be counted or shown (unreadable, or not UTF-8). `path` names it."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")
