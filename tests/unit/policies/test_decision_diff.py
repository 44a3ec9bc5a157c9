"""Two decision records compared field by field, in readable paths."""

from orchestration_policies.decision_diff import Difference, differences

RECORDED = {
    "shipments": {"wh-lyon": [["1", "RED-CHAIR", 2]]},
    "held": None,
    "explanation": {
        "candidates": [
            {"source_id": "store-lille", "status": "scored", "score": 0.4},
            {"source_id": "wh-lyon", "status": "scored", "score": 0.1},
        ]
    },
}


def test_equal_records_have_no_differences() -> None:
    assert differences(RECORDED, dict(RECORDED)) == []


def test_rows_are_named_by_their_source_and_missing_fields_say_absent() -> None:
    rerun = {
        "shipments": {"store-lille": [["1", "RED-CHAIR", 2]]},
        "held": None,
        "explanation": {
            "candidates": [
                {"source_id": "wh-lyon", "status": "excluded", "score": None},
                {"source_id": "store-lille", "status": "scored", "score": 0.4},
            ]
        },
    }

    found = differences(RECORDED, rerun)

    assert found == [
        Difference("explanation.candidates[wh-lyon].score", 0.1, None),
        Difference("explanation.candidates[wh-lyon].status", "scored", "excluded"),
        Difference("shipments.store-lille", "(absent)", [["1", "RED-CHAIR", 2]]),
        Difference("shipments.wh-lyon", [["1", "RED-CHAIR", 2]], "(absent)"),
    ]
    assert str(found[1]) == (
        "explanation.candidates[wh-lyon].status: recorded 'scored', re-run 'excluded'"
    )
    assert (
        str(found[2]) == "shipments.store-lille: recorded (absent), re-run [['1', 'RED-CHAIR', 2]]"
    )


def test_lists_of_other_lengths_are_one_difference() -> None:
    assert differences({"live": ["a"]}, {"live": ["a", "b"]}) == [
        Difference("live", ["a"], ["a", "b"])
    ]
    assert differences({"x": [1, 2]}, {"x": [1, 3]}) == [Difference("x[1]", 2, 3)]
