"""Evaluation metrics on hand-made completions with known right and wrong answers.

The end-to-end path (`grpo-workbench eval` on a real run) is not covered here yet: see issue 6's note.
"""

from __future__ import annotations

import pytest

from workbench.evaluation import Completion, pass_at_k, score_row, summarize, type_family, wilson_interval

RIGHT = "<thinking>2 + 3 = 5</thinking>\n<SOLUTION>5</SOLUTION>"
RIGHT_UNFORMATTED = "So the answer: <SOLUTION>5</SOLUTION> done"
WRONG = "<thinking>2 + 3 = 6</thinking>\n<SOLUTION>6</SOLUTION>"


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 8)
    assert low == 0.0 and high == pytest.approx(0.3244, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 4, 1) == 1.0


def test_scores_and_groups_hand_made_completions() -> None:
    rows = [
        ({"answer": "5", "type": "GSM_AnsAug"}, [RIGHT, WRONG]),
        ({"answer": "5", "type": "GSM_SV"}, [RIGHT_UNFORMATTED, RIGHT]),
        ({"answer": "5", "type": "MATH_FOBAR"}, [WRONG, WRONG]),
    ]
    records = [score_row(row, [Completion(t, 10) for t in texts], i) for i, (row, texts) in enumerate(rows)]
    assert records[0]["correct"] == [True, False] and records[0]["formatted"] == [True, True]
    assert records[1]["correct"] == [True, True] and records[1]["formatted"] == [False, True]
    summary = summarize(records)
    overall = summary["overall"]
    assert overall["accuracy"]["value"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert overall["format"]["value"] == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert overall["pass_at_k"]["2"]["value"] == pytest.approx(2 / 3)
    assert set(summary["by_family"]) == {"GSM", "MATH"}
    assert summary["by_family"]["MATH"]["accuracy"]["value"] == 0.0
    assert type_family("MATH_Rephrased") == "MATH" and type_family("GSM_FOBAR") == "GSM"
