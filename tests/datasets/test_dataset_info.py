"""LLaMA-Factory's dataset_info.json, with entries and data copied verbatim from hiyouga/LLaMA-Factory
(data/dataset_info.json and data/mllm_demo.json), the demo's images replaced by real photos."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from mmtok.datasets.dataset_info import DatasetInfoError, RemoteDatasetError, is_dataset_info, load_dataset_info
from mmtok.datasets.formats.alpaca import Alpaca
from mmtok.datasets.formats.sharegpt import ShareGPT
from mmtok.datasets.measure import resolve_media, to_messages
from mmtok.datasets.source import iter_raw, parse
from mmtok.errors import UnknownNameError

# data/dataset_info.json, entries verbatim
DATASET_INFO = """{
  "alpaca_en_demo": {
    "file_name": "alpaca_en_demo.json"
  },
  "glaive_toolcall_en_demo": {
    "file_name": "glaive_toolcall_en_demo.json",
    "formatting": "sharegpt",
    "columns": {
      "messages": "conversations",
      "tools": "tools"
    }
  },
  "mllm_demo": {
    "file_name": "mllm_demo.json",
    "formatting": "sharegpt",
    "columns": {
      "messages": "messages",
      "images": "images"
    },
    "tags": {
      "role_tag": "role",
      "content_tag": "content",
      "user_tag": "user",
      "assistant_tag": "assistant"
    }
  },
  "alpaca_en": {
    "hf_hub_url": "llamafactory/alpaca_en",
    "ms_hub_url": "llamafactory/alpaca_en"
  },
  "belle_multiturn": {
    "script_url": "belle_multiturn",
    "formatting": "sharegpt"
  }
}"""

# data/mllm_demo.json, the first three records verbatim (the other three repeat their images)
MLLM_DEMO = """[
  {
    "messages": [
      {
        "content": "<image>Who are they?",
        "role": "user"
      },
      {
        "content": "They're Kane and Gretzka from Bayern Munich.",
        "role": "assistant"
      },
      {
        "content": "What are they doing?",
        "role": "user"
      },
      {
        "content": "They are celebrating on the soccer field.",
        "role": "assistant"
      }
    ],
    "images": [
      "mllm_demo_data/1.jpg"
    ]
  },
  {
    "messages": [
      {
        "content": "<image>Who is he?",
        "role": "user"
      },
      {
        "content": "He's Thomas Muller from Bayern Munich.",
        "role": "assistant"
      },
      {
        "content": "Why is he on the ground?",
        "role": "user"
      },
      {
        "content": "Because he's sliding on his knees to celebrate.",
        "role": "assistant"
      }
    ],
    "images": [
      "mllm_demo_data/2.jpg"
    ]
  },
  {
    "messages": [
      {
        "content": "<image>Please describe this image",
        "role": "user"
      },
      {
        "content": "Chinese astronaut Gui Haichao is giving a speech.",
        "role": "assistant"
      },
      {
        "content": "What has he accomplished?",
        "role": "user"
      },
      {
        "content": "He was appointed to be a payload specialist on Shenzhou 16 mission in June 2022, thus becoming the first Chinese civilian of Group 3 in space on 30 May 2023. He is responsible for the on-orbit operation of space science experimental payloads.",
        "role": "assistant"
      }
    ],
    "images": [
      "mllm_demo_data/3.jpg"
    ]
  }
]"""


@pytest.fixture
def demo_dir(tmp_path, photos):
    (tmp_path / "dataset_info.json").write_text(DATASET_INFO, encoding="utf-8")
    (tmp_path / "mllm_demo.json").write_text(MLLM_DEMO, encoding="utf-8")
    (tmp_path / "alpaca_en_demo.json").write_text('[{"instruction": "Say hi.", "input": "", "output": "Hi."}]', encoding="utf-8")
    (tmp_path / "glaive_toolcall_en_demo.json").write_text("[]", encoding="utf-8")
    (tmp_path / "mllm_demo_data").mkdir()
    for i, (_, array) in enumerate(photos[:3], 1):
        Image.fromarray(array).save(tmp_path / "mllm_demo_data" / f"{i}.jpg", quality=90)
    return tmp_path


def test_mllm_demo_entry(demo_dir):
    (entry,) = load_dataset_info(demo_dir / "dataset_info.json", "mllm_demo")
    assert entry.name == "mllm_demo"
    assert entry.file == str(demo_dir / "mllm_demo.json")
    assert entry.root == str(demo_dir)  # LLaMA-Factory's media_dir defaults to the dataset_dir
    assert isinstance(entry.format, ShareGPT) and entry.format_name == "sharegpt"
    published = json.loads(MLLM_DEMO)
    raws = list(iter_raw(entry.file))
    assert len(raws) == len(published)
    for raw, record, photo_index in zip(raws, published, (1, 2, 3)):
        sample = entry.format.read(parse(raw))
        assert sample.messages == [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
        assert sample.images == record["images"]
        path = resolve_media(sample.images[0], entry.root)
        assert os.path.isfile(path) and path == str(demo_dir / "mllm_demo_data" / f"{photo_index}.jpg")
        # the tags match the images, and the paths resolve: what LLaMA-Factory's mm_plugin checks
        assert to_messages(sample, entry.root)[0]["content"][0] == {"type": "image", "image": path}


def test_folder_is_the_dataset_dir(demo_dir):
    assert is_dataset_info(demo_dir) and is_dataset_info(demo_dir / "dataset_info.json")
    assert not is_dataset_info(demo_dir / "mllm_demo.json")
    assert load_dataset_info(demo_dir, "mllm_demo")[0].file == load_dataset_info(demo_dir / "dataset_info.json", "mllm_demo")[0].file


def test_alpaca_is_the_default_formatting(demo_dir):
    (entry,) = load_dataset_info(demo_dir, "alpaca_en_demo")
    assert isinstance(entry.format, Alpaca) and entry.format_name == "alpaca"
    (raw,) = iter_raw(entry.file)
    assert entry.format.read(parse(raw)).messages == [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."}]


def test_columns_rename_keys(demo_dir):
    (entry,) = load_dataset_info(demo_dir, "glaive_toolcall_en_demo")
    assert entry.format_options == {"columns": {"messages": "conversations", "tools": "tools"}, "tags": {}}


def test_all_local_entries_and_comma_list(demo_dir):
    names = [e.name for e in load_dataset_info(demo_dir)]
    assert names == ["alpaca_en_demo", "glaive_toolcall_en_demo", "mllm_demo"]  # hub and script entries skipped
    assert [e.name for e in load_dataset_info(demo_dir, "mllm_demo,alpaca_en_demo")] == ["mllm_demo", "alpaca_en_demo"]


@pytest.mark.parametrize("name,source", [("alpaca_en", "hf_hub_url 'llamafactory/alpaca_en'"), ("belle_multiturn", "script_url 'belle_multiturn'")])
def test_remote_entries_are_refused_by_name(demo_dir, name, source):
    with pytest.raises(RemoteDatasetError) as e:
        load_dataset_info(demo_dir, name)
    assert e.value.name == name and source in str(e.value)
    assert "local files only" in str(e.value)


def test_unknown_name_lists_the_names(demo_dir):
    with pytest.raises(UnknownNameError) as e:
        load_dataset_info(demo_dir, "mllm_dmo")
    assert "mllm_demo" in str(e.value) and "alpaca_en" in str(e.value)


def test_malformed_files_and_entries(tmp_path):
    with pytest.raises(DatasetInfoError):
        load_dataset_info(tmp_path)  # no dataset_info.json
    (tmp_path / "dataset_info.json").write_text('{"a": {"formatting": "sharegpt"}, "b": {"file_name": "b.json", "formatting": "yaml"}, "c": {"file_name": "sub"}}')
    (tmp_path / "sub").mkdir()
    for name, words in (("a", "no file_name"), ("b", "formatting 'yaml'"), ("c", "folder")):
        with pytest.raises(DatasetInfoError, match=words):
            load_dataset_info(tmp_path, name)
    (tmp_path / "dataset_info.json").write_text("{not json")
    with pytest.raises(DatasetInfoError, match="not valid JSON"):
        load_dataset_info(tmp_path)
