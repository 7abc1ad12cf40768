"""Qwen-VL's reference code, transcribed statement by statement for the tests (it cannot be installed).

Qwen-VL's tokenizer, prompt builder and image transform are remote code on the Hugging Face Hub
(Qwen/Qwen-VL, Qwen/Qwen-VL-Chat), not a package. The functions below follow these files line by
line, with only the class scaffolding and the transformers base class removed:

* `tokenization_qwen.py`, mirror x1ngzai/Qwen-VL-Chat-Int4 @ 1cd721a27dd000fc4cf688c6ad58e614da1d600d:
  `SPECIAL_TOKENS`, `IMAGE_ST`, `QWenTokenizer.__init__` (special ids), `tokenize` with
  `_replace_closed_tag` / `_encode_imgurl`, `convert_tokens_to_ids`, `_decode` with `_decode_imgurl`.
  `from_list_format` writes "Picture {n}: " with a space, as the Qwen/Qwen-VL copy ported by
  mindformers (research/qwenvl/qwenvl_tokenizer.py), the QwenLM/Qwen-VL README's fine-tuning data and
  vLLM's placeholder regex `(Picture \\d*: <img>)` do; the Int4 mirror writes "Picture {n}:".
* `qwen_generation_utils.py` (same mirror): `make_context`, chat_format "chatml".
* `finetune.py` (QwenLM/Qwen-VL @ 0f31930594e1bcd27b3490a7d4a94b8e7ab5a8d9): `preprocess`'s input_ids.
* `visual.py` (same mirror): `VisionTransformer.image_transform` = torchvision
  Compose([Resize((448, 448), interpolation=BICUBIC), ToTensor(), Normalize(CLIP mean, std)]), written
  as torchvision 0.2x runs it on a PIL image: `F_pil.resize` -> `img.resize(size[::-1], BICUBIC)`;
  `to_tensor` -> `torch.from_numpy(np.array(pic, np.uint8, copy=True)).view(h, w, c).permute(2, 0, 1)
  .contiguous().to(torch.float32).div(255)`; `normalize` -> `tensor.sub_(mean[:, None, None])
  .div_(std[:, None, None])` with float32 mean/std.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import tiktoken
import tiktoken.load
from reference_tokenizers import QWEN_PATTERN, qwen_tiktoken_path

ENDOFTEXT = "<|endoftext|>"
IMSTART = "<|im_start|>"
IMEND = "<|im_end|>"
EXTRAS = tuple(f"<|extra_{i}|>" for i in range(205))
SPECIAL_TOKENS = (ENDOFTEXT, IMSTART, IMEND) + EXTRAS
IMG_TOKEN_SPAN = 256
IMAGE_ST = ("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", "<img>", "</img>", "<imgpad>")


def _list_find(input_list, candidates, start=0):
    for i in range(start, len(input_list)):
        if input_list[i] in candidates:
            return i
    return -1


def _replace_closed_tag(input_tokens, start_tags, end_tags, inclusive_replace_func, exclusive_replace_func=lambda x: x):
    if isinstance(start_tags, (str, int)):
        start_tags = (start_tags,)
    if isinstance(end_tags, (str, int)):
        end_tags = (end_tags,)
    assert len(start_tags) == len(end_tags)
    output_tokens = []
    end = 0
    while True:
        start = _list_find(input_tokens, start_tags, end)
        if start == -1:
            break
        output_tokens.extend(exclusive_replace_func(input_tokens[end:start]))
        tag_idx = start_tags.index(input_tokens[start])
        end = _list_find(input_tokens, (end_tags[tag_idx],), start)
        if end == -1:
            raise ValueError("Unclosed image token")
        output_tokens.extend(inclusive_replace_func(input_tokens[start : end + 1]))
        end += 1
    output_tokens.extend(exclusive_replace_func(input_tokens[end:]))
    return output_tokens


class QWenTokenizer:
    """tokenization_qwen.QWenTokenizer without its transformers base class."""

    image_start_tag, image_end_tag, image_pad_tag = "<img>", "</img>", "<imgpad>"

    def __init__(self):
        with _no_tiktoken_cache():
            self.mergeable_ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))
        self.IMAGE_ST = IMAGE_ST
        self.special_tokens = {
            token: index for index, token in enumerate(SPECIAL_TOKENS + self.IMAGE_ST, start=len(self.mergeable_ranks))
        }
        self.img_start_id = self.special_tokens[self.image_start_tag]
        self.img_end_id = self.special_tokens[self.image_end_tag]
        self.img_pad_id = self.special_tokens[self.image_pad_tag]
        enc = tiktoken.Encoding("Qwen", pat_str=QWEN_PATTERN, mergeable_ranks=self.mergeable_ranks, special_tokens=self.special_tokens)
        assert len(self.mergeable_ranks) + len(self.special_tokens) == enc.n_vocab
        self.decoder = {v: k for k, v in self.mergeable_ranks.items()}
        self.decoder.update({v: k for k, v in self.special_tokens.items()})
        self.tokenizer = enc
        self.eod_id = self.tokenizer.eot_token
        self.im_start_id = self.special_tokens[IMSTART]
        self.im_end_id = self.special_tokens[IMEND]

    def tokenize(self, text, allowed_special="all", disallowed_special=()):
        tokens = []
        text = unicodedata.normalize("NFC", text)
        for t in self.tokenizer.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special):
            tokens.append(self.decoder[t])

        def _encode_imgurl(img_tokens):
            assert img_tokens[0] == self.image_start_tag and img_tokens[-1] == self.image_end_tag
            img_tokens = img_tokens[1:-1]
            img_url = b"".join(img_tokens)
            out_img_tokens = list(map(self.decoder.get, img_url))
            if len(out_img_tokens) > IMG_TOKEN_SPAN:
                raise ValueError(f"The content in {self.image_start_tag}..{self.image_end_tag} is too long")
            out_img_tokens.extend([self.image_pad_tag] * (IMG_TOKEN_SPAN - len(out_img_tokens)))
            return [self.image_start_tag] + out_img_tokens + [self.image_end_tag]

        return _replace_closed_tag(tokens, self.image_start_tag, self.image_end_tag, _encode_imgurl)

    def convert_tokens_to_ids(self, tokens):
        ids = []
        for token in tokens:
            if token in self.special_tokens:
                ids.append(self.special_tokens[token])
            else:
                ids.append(self.mergeable_ranks.get(token))
        return ids

    def encode(self, text, **kwargs):
        """PreTrainedTokenizer.encode / __call__(...).input_ids: tokenize, then convert_tokens_to_ids."""
        return self.convert_tokens_to_ids(self.tokenize(text, **kwargs))

    __call__ = encode

    def decode(self, token_ids, errors="replace"):
        """_decode (skip_special_tokens=False)."""

        def _decode_imgurl(img_token_ids):
            assert img_token_ids[0] == self.img_start_id and img_token_ids[-1] == self.img_end_id
            img_token_ids = img_token_ids[1:-1]
            img_token_ids = img_token_ids[: img_token_ids.index(self.img_pad_id)]
            img_url = bytes(img_token_ids).decode("utf-8")
            return [self.img_start_id] + self.tokenizer.encode(img_url) + [self.img_end_id]

        token_ids = _replace_closed_tag(list(token_ids), self.img_start_id, self.img_end_id, _decode_imgurl)
        return self.tokenizer.decode(token_ids, errors=errors)

    def from_list_format(self, list_format):
        text = ""
        num_images = 0
        for ele in list_format:
            if "image" in ele:
                num_images += 1
                text += f"Picture {num_images}: "
                text += self.image_start_tag + ele["image"] + self.image_end_tag
                text += "\n"
            elif "text" in ele:
                text += ele["text"]
            elif "box" in ele:
                if "ref" in ele:
                    text += "<ref>" + ele["ref"] + "</ref>"
                for box in ele["box"]:
                    text += "<box>" + "(%d,%d),(%d,%d)" % (box[0], box[1], box[2], box[3]) + "</box>"
            else:
                raise ValueError("Unsupport element: " + str(ele))
        return text


def make_context(tokenizer, query, history=None, system="", max_window_size=6144):
    """qwen_generation_utils.make_context, chat_format "chatml"; returns (raw_text, context_tokens)."""
    if history is None:
        history = []
    im_start, im_end = "<|im_start|>", "<|im_end|>"
    im_start_tokens = [tokenizer.im_start_id]
    im_end_tokens = [tokenizer.im_end_id]
    nl_tokens = tokenizer.encode("\n")

    def _tokenize_str(role, content):
        return f"{role}\n{content}", tokenizer.encode(role, allowed_special=set(tokenizer.IMAGE_ST)) + nl_tokens + tokenizer.encode(
            content, allowed_special=set(tokenizer.IMAGE_ST)
        )

    system_text, system_tokens_part = _tokenize_str("system", system)
    system_tokens = im_start_tokens + system_tokens_part + im_end_tokens
    raw_text = ""
    context_tokens = []
    for turn_query, turn_response in reversed(history):
        query_text, query_tokens_part = _tokenize_str("user", turn_query)
        query_tokens = im_start_tokens + query_tokens_part + im_end_tokens
        if turn_response is not None:
            response_text, response_tokens_part = _tokenize_str("assistant", turn_response)
            response_tokens = im_start_tokens + response_tokens_part + im_end_tokens
            next_context_tokens = nl_tokens + query_tokens + nl_tokens + response_tokens
            prev_chat = f"\n{im_start}{query_text}{im_end}\n{im_start}{response_text}{im_end}"
        else:
            next_context_tokens = nl_tokens + query_tokens + nl_tokens
            prev_chat = f"\n{im_start}{query_text}{im_end}\n"
        current_context_size = len(system_tokens) + len(next_context_tokens) + len(context_tokens)
        if current_context_size < max_window_size:
            context_tokens = next_context_tokens + context_tokens
            raw_text = prev_chat + raw_text
        else:
            break
    context_tokens = system_tokens + context_tokens
    raw_text = f"{im_start}{system_text}{im_end}" + raw_text
    context_tokens += (
        nl_tokens
        + im_start_tokens
        + _tokenize_str("user", query)[1]
        + im_end_tokens
        + nl_tokens
        + im_start_tokens
        + tokenizer.encode("assistant")
        + nl_tokens
    )
    raw_text += f"\n{im_start}user\n{query}{im_end}\n{im_start}assistant\n"
    return raw_text, context_tokens


def finetune_input_ids_and_targets(tokenizer, source, system_message="You are a helpful assistant."):
    """finetune.py `preprocess` for one conversation: (input_id, target) before padding."""
    IGNORE_TOKEN_ID = -100  # LabelSmoother.ignore_index
    roles = {"user": "<|im_start|>user", "assistant": "<|im_start|>assistant"}
    im_start = tokenizer.im_start_id
    im_end = tokenizer.im_end_id
    nl_tokens = tokenizer("\n")
    _system = tokenizer("system") + nl_tokens
    if roles[source[0]["from"]] != roles["user"]:
        source = source[1:]
    input_id, target = [], []
    system = [im_start] + _system + tokenizer(system_message) + [im_end] + nl_tokens
    input_id += system
    target += [im_start] + [IGNORE_TOKEN_ID] * (len(system) - 3) + [im_end] + nl_tokens
    for sentence in source:
        role = roles[sentence["from"]]
        _input_id = tokenizer(role) + nl_tokens + tokenizer(sentence["value"]) + [im_end] + nl_tokens
        input_id += _input_id
        if role == "<|im_start|>user":
            _target = [im_start] + [IGNORE_TOKEN_ID] * (len(_input_id) - 3) + [im_end] + nl_tokens
        else:
            _target = [im_start] + [IGNORE_TOKEN_ID] * len(tokenizer(role)) + _input_id[len(tokenizer(role)) + 1 : -2] + [im_end] + nl_tokens
        target += _target
    assert len(input_id) == len(target)
    return input_id, target


def finetune_input_ids(tokenizer, source, system_message="You are a helpful assistant."):
    """finetune.py `preprocess` for one conversation [{"from": "user"|"assistant", "value": ...}], before padding."""
    return finetune_input_ids_and_targets(tokenizer, source, system_message)[0]


OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def image_transform(image, image_size=448):
    """visual.py's image_transform on a PIL image, as torchvision executes it (see the module docstring)."""
    import torch
    from PIL import Image

    # transforms.Resize((image_size, image_size), interpolation=InterpolationMode.BICUBIC)
    size = [image_size, image_size]
    if [image.height, image.width] != size:  # torchvision returns the image itself when the size matches
        image = image.resize(tuple(size[::-1]), Image.Resampling.BICUBIC)
    # transforms.ToTensor()
    img = torch.from_numpy(np.array(image, np.uint8, copy=True))
    img = img.view(image.size[1], image.size[0], len(image.getbands()))
    img = img.permute((2, 0, 1)).contiguous()
    tensor = img.to(dtype=torch.get_default_dtype()).div(255)
    # transforms.Normalize(mean=mean, std=std)
    mean = torch.as_tensor(OPENAI_CLIP_MEAN, dtype=tensor.dtype)
    std = torch.as_tensor(OPENAI_CLIP_STD, dtype=tensor.dtype)
    return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1)).numpy()


def encode_images(paths, image_size=448):
    """visual.py `VisionTransformer.encode`'s pixel input: open each path, convert("RGB"), image_transform, stack."""
    from PIL import Image

    return np.stack([image_transform(Image.open(path).convert("RGB"), image_size) for path in paths])


class _no_tiktoken_cache:
    """Read the vocabulary file directly (load_tiktoken_bpe would otherwise copy it into a temp-dir cache)."""

    def __enter__(self):
        import os

        self._old = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = ""

    def __exit__(self, *exc):
        import os

        if self._old is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = self._old
