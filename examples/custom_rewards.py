"""Example custom rewards for grpo-workbench: name them in a run config to train with them.

    [[custom_rewards]]
    file = "examples/custom_rewards.py"
    function = "length_reward"

    [[custom_rewards]]
    file = "examples/custom_rewards.py"
    function = "vietnamese_reward"

    [rewards]
    length_reward = 0.5
    vietnamese_reward = 1.0

Each function has TRL's reward signature: keyword arguments `prompts`, `completions` (chat messages:
`[[{"role": "assistant", "content": text}], ...]`), `completion_ids`, the dataset's columns (`answer`,
`type`) and `trainer_state`, `log_extra`, `log_metric`; it returns one float (or None: no score) per
completion. Its metric is `rewards/<function name>/mean`. The file is imported on its own: import
installed packages, not files beside it. Try one on a completion with `grpo-workbench score` or the
workbench's try-it screen (Ctrl+T in Configure) before training with it.
"""

from __future__ import annotations

import re
from typing import Any

TARGET_WORDS = (30, 120)
"""The reasoning length (words inside <thinking>) that length_reward prefers."""
VIETNAMESE_LETTERS = re.compile(
    "[ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ]", re.IGNORECASE
)
WORD = re.compile(r"[^\W\d_]+")


def _text(completion: Any) -> str:
    """The text of a completion: TRL passes chat messages for a chat dataset, plain strings otherwise."""
    if isinstance(completion, list) and completion:
        return str(completion[-1].get("content", ""))
    return str(completion)


def _thinking(text: str) -> str | None:
    start, end = text.find("<thinking>"), text.find("</thinking>")
    if start < 0 or end < start:
        return None
    return text[start + len("<thinking>") : end]


def length_reward(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """0.5 when the reasoning is 30-120 words long, less the further it is from that range (down to
    -0.5); None for a completion without a <thinking> block (the format rewards judge that)."""
    low, high = TARGET_WORDS
    scores: list[float | None] = []
    for completion in completions:
        thinking = _thinking(_text(completion))
        if thinking is None:
            scores.append(None)
            continue
        words = len(thinking.split())
        distance = (low - words) / low if words < low else (words - high) / high if words > high else 0.0
        scores.append(round(0.5 - min(distance, 1.0), 4))
    return scores


def vietnamese_reward(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """The share of the reasoning's words that are Vietnamese (carry a Vietnamese letter or are common
    unaccented Vietnamese words), scaled to 0..1: the dataset's questions are Vietnamese and the tutorial
    wants the reasoning in Vietnamese too. 0 for a completion with no words."""
    common = {"va", "la", "co", "cho", "ta", "so", "nen", "thi", "con", "vay", "ban", "tong", "can", "nhu"}
    scores: list[float | None] = []
    for completion in completions:
        text = _text(completion)
        words = WORD.findall(_thinking(text) or text)
        if not words:
            scores.append(0.0)
            continue
        vietnamese = sum(1 for w in words if VIETNAMESE_LETTERS.search(w) or w.lower() in common)
        scores.append(round(vietnamese / len(words), 4))
    return scores
