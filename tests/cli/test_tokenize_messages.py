"""`mmtok tokenize --messages`: a whole conversation from a JSON file, with labels and max_length."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import mmtok
from mmtok.cli.main import main

SAMPLE = Path(mmtok.__file__).parent / "data" / "sample.jpg"
CONVERSATION = [
    {"role": "user", "content": [{"type": "image", "image": "photo.jpg"}, {"type": "text", "text": "What is this?"}]},
    {"role": "assistant", "content": "A rocket."},
    {"role": "user", "content": "When?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Unknown."}]},
]


@pytest.fixture()
def conversation_file(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "photo.jpg")
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(CONVERSATION))
    return path


@pytest.mark.parametrize("model", ["qwen2-vl", "qwen3-vl"])
def test_messages_with_labels_equal_library(capsys, conversation_file, model, ref_processors):
    code = main(["tokenize", "--model", model, "--messages", str(conversation_file), "--labels", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    messages = json.loads(json.dumps(CONVERSATION))
    messages[0]["content"][0]["image"] = str(conversation_file.parent / "photo.jpg")
    # the reference processor gives the ids (no generation prompt: the last turn is the assistant's)
    ref = ref_processors(model).apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="np")
    assert data["input_ids"] == ref["input_ids"][0].tolist()
    lib = mmtok.get_processor(model)(messages, labels=True)
    assert data["labels"] == lib["labels"][0].tolist()
    tok = mmtok.get_tokenizer("qwen2")
    learned = [t for t in data["labels"] if t != -100]
    assert tok.decode(learned) == "A rocket.<|im_end|>\nUnknown.<|im_end|>\n"


def test_messages_human_output_and_cut_image_error(capsys, conversation_file):
    assert main(["tokenize", "--messages", str(conversation_file), "--labels"]) == 0
    out = capsys.readouterr().out
    assert "labels    " in out and "'A rocket.<|im_end|>\\n'" in out
    code = main(["tokenize", "--messages", str(conversation_file), "--max-length", "30"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert "max_length 30 would cut image 1" in err and "Traceback" not in err


def test_bad_messages_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["tokenize", "--messages", str(bad)]) != 0
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["tokenize", "--messages", str(tmp_path / "missing.json")]) != 0
    assert "no such file" in capsys.readouterr().err
