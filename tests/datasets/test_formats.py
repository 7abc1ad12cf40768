"""Dataset formats against the records their owners publish.

Every record below is copied verbatim (as JSON text) from its source:
* SWIFT_*: modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md ("Messages format",
  "ShareGPT format", "Alpaca format", "Query-Response format", "Multimodal / Supervised Fine-tuning", "Agent Format",
  "Grounding").
* LF_*: hiyouga/LLaMA-Factory data/README.md ("Alpaca Format / Supervised Fine-Tuning Dataset",
  "Sharegpt Format / Supervised Fine-Tuning Dataset", "OpenAI Format") and data/mllm_demo.json (first
  record).
* LLAVA: haotian-liu/LLaVA docs/Finetune_Custom_Data.md (its trailing comma after the last turn
  removed, which JSON does not allow).
The expected messages come from the same documents' statements: ms-swift says the four formats "will
all be converted into the messages field" (its query-response example is the messages example's
conversation), LLaMA-Factory that "the human prompt would be `instruction\\ninput`".
"""

from __future__ import annotations

import json

import pytest

from mmtok.datasets import RecordError, detect_format, get_format
from mmtok.datasets.formats import DETECT_ORDER, FORMATS

SWIFT_MESSAGES = '{"messages": [{"role": "system", "content": "<system>"}, {"role": "user", "content": "<query1>"}, {"role": "assistant", "content": "<response1>"}, {"role": "user", "content": "<query2>"}, {"role": "assistant", "content": "<response2>"}]}'
SWIFT_SHAREGPT = '{"system": "<system>", "conversation": [{"human": "<query1>", "assistant": "<response1>"}, {"human": "<query2>", "assistant": "<response2>"}]}'
SWIFT_ALPACA = '{"system": "<system>", "instruction": "<query-inst>", "input": "<query-input>", "output": "<response>"}'
SWIFT_QUERY = '{"system": "<system>", "query": "<query2>", "response": "<response2>", "history": [["<query1>", "<response1>"]]}'
SWIFT_TWO_IMAGES = '{"messages": [{"role": "user", "content": "<image><image>What is the difference between the two images?"}, {"role": "assistant", "content": "The first one is a kitten, and the second one is a puppy."}], "images": ["/xxx/x.jpg", "/xxx/x.png"]}'
SWIFT_IMAGE_VIDEO = '{"messages": [{"role": "system", "content": "You are a helpful and harmless assistant."}, {"role": "user", "content": "<image>What is in the image, <video>What is in the video?"}, {"role": "assistant", "content": "The image shows an elephant, and the video shows a puppy running on the grass."}], "images": ["/xxx/x.jpg"], "videos": ["/xxx/x.mp4"]}'
SWIFT_AGENT = '{"tools": "[{\\"type\\": \\"function\\", \\"function\\": {\\"name\\": \\"realtime_aqi\\", \\"description\\": \\"Weather forecast. Get real-time air quality, including current air quality, PM2.5, and PM10 information.\\", \\"parameters\\": {\\"type\\": \\"object\\", \\"properties\\": {\\"city\\": {\\"type\\": \\"string\\", \\"description\\": \\"City name, e.g., Shanghai\\"}}, \\"required\\": [\\"city\\"]}}}]", "messages": [{"role": "user", "content": "What is the weather like in Beijing and Shanghai today?"}, {"role": "tool_call", "content": "{\\"name\\": \\"realtime_aqi\\", \\"arguments\\": {\\"city\\": \\"Beijing\\"}}"}, {"role": "tool_call", "content": "{\\"name\\": \\"realtime_aqi\\", \\"arguments\\": {\\"city\\": \\"Shanghai\\"}}"}, {"role": "tool_response", "content": "{\\"city\\": \\"Beijing\\", \\"aqi\\": \\"10\\", \\"unit\\": \\"celsius\\"}"}, {"role": "tool_response", "content": "{\\"city\\": \\"Shanghai\\", \\"aqi\\": \\"72\\", \\"unit\\": \\"fahrenheit\\"}"}, {"role": "assistant", "content": "According to the weather forecast tool, the air quality index (AQI) in Beijing is 10, which indicates good air quality; whereas in Shanghai, the AQI is 72, indicating mild pollution."}]}'
SWIFT_GROUNDING = '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Describe the image."}, {"role": "assistant", "content": "<ref-object><bbox> and <ref-object><bbox> are playing on the beach"}], "images": ["/xxx/x.jpg"], "objects": {"ref": ["a dog", "a woman"], "bbox": [[331.5, 761.4, 853.5, 1594.8], [676.5, 685.8, 1099.5, 1427.4]]}}'
LF_ALPACA = """{
    "instruction": "human instruction (required)",
    "input": "human input (optional)",
    "output": "model response (required)",
    "system": "system prompt (optional)",
    "history": [
      ["human instruction in the first round (optional)", "model response in the first round (optional)"],
      ["human instruction in the second round (optional)", "model response in the second round (optional)"]
    ]
  }"""
LF_SHAREGPT = """{
    "conversations": [
      {"from": "human", "value": "human instruction"},
      {"from": "gpt", "value": "model response"},
      {"from": "human", "value": "human instruction"},
      {"from": "gpt", "value": "model response"}
    ],
    "system": "system prompt (optional)",
    "tools": "tool description (optional)"
  }"""
LF_OPENAI = """{"messages": [{"role": "system", "content": "system prompt (optional)"}, {"role": "user", "content": "human instruction"}, {"role": "assistant", "content": "model response"}]}"""
LF_MLLM_DEMO = """{
    "messages": [
      {"content": "<image>Who are they?", "role": "user"},
      {"content": "They're Kane and Gretzka from Bayern Munich.", "role": "assistant"},
      {"content": "What are they doing?", "role": "user"},
      {"content": "They are celebrating on the soccer field.", "role": "assistant"}
    ],
    "images": ["mllm_demo_data/1.jpg"]
  }"""
LLAVA = """{
    "id": "997bb945-628d-4724-b370-b84de974a19f",
    "image": "part-000001/997bb945-628d-4724-b370-b84de974a19f.jpg",
    "conversations": [
      {"from": "human", "value": "<image>\\nWrite a prompt for Stable Diffusion to generate this image."},
      {"from": "gpt", "value": "a beautiful painting of chernobyl by nekro, pascal blanche, john harris, greg rutkowski, sin jong hun, moebius, simon stalenhag. in style of cg art. ray tracing. cel shading. hyper detailed. realistic. ue 5. maya. octane render. "}
    ]
  }"""

#: (name, record text, its format)
PUBLISHED = [
    ("swift-messages", SWIFT_MESSAGES, "swift"),
    ("swift-sharegpt", SWIFT_SHAREGPT, "swift-sharegpt"),
    ("swift-alpaca", SWIFT_ALPACA, "alpaca"),
    ("swift-query", SWIFT_QUERY, "swift-query"),
    ("swift-two-images", SWIFT_TWO_IMAGES, "swift"),
    ("swift-image-video", SWIFT_IMAGE_VIDEO, "swift"),
    ("swift-agent", SWIFT_AGENT, "swift"),
    ("swift-grounding", SWIFT_GROUNDING, "swift"),
    ("lf-alpaca", LF_ALPACA, "alpaca"),
    ("lf-sharegpt", LF_SHAREGPT, "sharegpt"),
    ("lf-openai", LF_OPENAI, "swift"),
    ("lf-mllm-demo", LF_MLLM_DEMO, "swift"),
    ("llava", LLAVA, "llava"),
]
IDS = [p[0] for p in PUBLISHED]


def _view(sample):
    return sample.messages, list(sample.images), list(sample.videos)


def test_swift_docs_four_formats_read_to_one_conversation():
    expected = json.loads(SWIFT_MESSAGES)["messages"]
    assert get_format("swift").read(json.loads(SWIFT_MESSAGES)).messages == expected
    assert get_format("swift-query").read(json.loads(SWIFT_QUERY)).messages == expected
    assert get_format("swift-sharegpt").read(json.loads(SWIFT_SHAREGPT)).messages == expected
    alpaca = get_format("alpaca").read(json.loads(SWIFT_ALPACA)).messages
    assert alpaca == [
        {"role": "system", "content": "<system>"},
        {"role": "user", "content": "<query-inst>\n<query-input>"},
        {"role": "assistant", "content": "<response>"},
    ]


def test_llamafactory_alpaca_history_and_prompt_join():
    sample = get_format("alpaca").read(json.loads(LF_ALPACA))
    assert [m["role"] for m in sample.messages] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert sample.messages[1]["content"] == "human instruction in the first round (optional)"
    assert sample.messages[4]["content"] == "model response in the second round (optional)"
    assert sample.messages[5]["content"] == "human instruction (required)\nhuman input (optional)"
    # converter.py: only the non-empty of instruction and input are joined
    assert get_format("alpaca").read({"instruction": "a", "input": "", "output": "b"}).messages[0]["content"] == "a"


def test_alpaca_columns_as_dataset_info_maps_them():
    # LLaMA-Factory data/dataset_info.json, "openorca": columns prompt=question, response=response, system=system_prompt
    fmt = get_format("alpaca", columns={"prompt": "question", "response": "response", "system": "system_prompt"})
    sample = fmt.read({"question": "Q?", "response": "A.", "system_prompt": "Be brief.", "id": "x1"})
    assert sample.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    assert sample.extra == {"id": "x1"}
    assert fmt.write(sample) == {"question": "Q?", "response": "A.", "system_prompt": "Be brief.", "id": "x1"}


@pytest.mark.parametrize("name,text,fmt", PUBLISHED, ids=IDS)
def test_detected_as_its_format(name, text, fmt):
    assert detect_format(json.loads(text)).name == fmt


@pytest.mark.parametrize("name,text,fmt", PUBLISHED, ids=IDS)
def test_detection_is_unambiguous(name, text, fmt):
    """Every format whose detect accepts a record reads it into the same conversation and media."""
    record = json.loads(text)
    accepting = [n for n in DETECT_ORDER if FORMATS.get(n).detect(record)]
    assert fmt in accepting
    views = {n: _view(FORMATS.get(n).read(record)) for n in accepting}
    assert all(v == views[fmt] for v in views.values()), views


@pytest.mark.parametrize("name,text,fmt", PUBLISHED, ids=IDS)
def test_round_trip(name, text, fmt):
    record = json.loads(text)
    f = get_format(fmt)
    sample = f.read(record)
    written = f.write(sample)
    assert _view(f.read(written)) == _view(sample)
    if fmt != "alpaca":  # alpaca writes instruction + input back as one instruction (the joined prompt)
        assert written == record
    else:
        assert written["instruction"] == sample.messages[-2]["content"] and "input" not in written


def _representable(sample, target: str) -> bool:
    roles = [m["role"] for m in sample.messages]
    body = roles[1:] if roles and roles[0] == "system" else roles
    pairs = len(body) >= 2 and body == ["user", "assistant"] * (len(body) // 2)
    if target in ("alpaca", "swift-query", "swift-sharegpt"):
        return pairs
    if target == "llava":
        return set(roles) <= {"system", "user", "assistant"}
    if target == "sharegpt":  # LLaMA-Factory data/README.md: "the human and observation should appear in odd
        # positions, while gpt and function should appear in even positions"
        odd, even = {"user", "tool_response"}, {"assistant", "tool_call"}
        return all(r in (odd if i % 2 == 0 else even) for i, r in enumerate(body))
    return True


@pytest.mark.parametrize("target", ["swift", "swift-query", "swift-sharegpt", "llava", "sharegpt", "alpaca"])
@pytest.mark.parametrize("name,text,fmt", PUBLISHED, ids=IDS)
def test_every_format_to_every_other(name, text, fmt, target):
    sample = get_format(fmt).read(json.loads(text))
    out = get_format(target)
    if not _representable(sample, target):
        with pytest.raises(RecordError) as e:
            out.write(sample)
        assert e.value.problem.code == "bad_roles"
        return
    written = json.loads(json.dumps(out.write(sample)))  # what a JSONL file holds
    assert detect_format(written).name == target or target == "sharegpt" and "conversations" in written
    assert _view(out.read(written)) == _view(sample)


@pytest.mark.parametrize(
    "fmt,record,code",
    [
        ("swift", {"messages": [{"role": "robot", "content": "hi"}]}, "bad_roles"),
        ("swift", {"messages": [{"role": "user"}]}, "bad_format"),
        ("swift", {"conversation": []}, "bad_format"),
        ("swift", {"messages": "hi"}, "bad_format"),
        ("llava", {"conversations": [{"from": "bot", "value": "hi"}]}, "bad_roles"),
        ("llava", {"conversations": [{"from": "human"}]}, "bad_format"),
        ("llava", {"image": "a.jpg"}, "bad_format"),
        ("sharegpt", {"conversations": [{"from": "assistant", "value": "hi"}]}, "bad_roles"),
        ("sharegpt", {"conversations": [{"value": "hi"}]}, "bad_roles"),
        ("sharegpt", {"messages": []}, "bad_format"),
        ("alpaca", {"instruction": "a"}, "bad_format"),
        ("alpaca", {"output": "b"}, "bad_format"),
        ("alpaca", {"instruction": 3, "output": "b"}, "bad_format"),
        ("alpaca", {"instruction": "a", "output": "b", "history": [["only one"]]}, "bad_format"),
        ("swift-query", {"query": "a"}, "bad_format"),
        ("swift-sharegpt", {"conversation": [{"human": "a"}]}, "bad_format"),
        ("swift-sharegpt", {"system": "s"}, "bad_format"),
        ("swift-query", {"instruction": "a", "input": "b", "response": "c"}, "bad_format"),
        ("swift", ["not", "an", "object"], "bad_format"),
    ],
)
def test_bad_records_raise_typed_errors(fmt, record, code):
    with pytest.raises(RecordError) as e:
        get_format(fmt).read(record)
    assert e.value.problem.code == code
    assert e.value.problem.message


def test_unknown_record_shape_names_the_formats():
    with pytest.raises(RecordError) as e:
        detect_format({"text": "just text"})
    assert e.value.problem.code == "bad_format"
    assert "alpaca" in str(e.value) and "--format" in str(e.value)


def test_openai_tags_as_llamafactory_maps_them():
    # data/README.md, "OpenAI Format": columns messages=messages, tags role/content/user/assistant/system
    fmt = get_format("sharegpt", columns={"messages": "messages"},
                     tags={"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"})  # fmt: skip
    record = json.loads(LF_OPENAI)
    assert fmt.read(record).messages == get_format("swift").read(record).messages
    assert fmt.write(fmt.read(record)) == {"system": "system prompt (optional)", "messages": record["messages"][1:]}
