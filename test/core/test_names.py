"""core/names.py: the nearest known names offered for a misspelt parameter or config key."""

from __future__ import annotations

import pytest

from mono_depth_ros.core.names import did_you_mean, did_you_mean_each, nearest_names, topic_name_problem

KNOWN = ("output.max_range", "output.min_range", "scale.mode", "sync.mode", "steps", "seed")


def test_a_misspelling_gets_its_nearest_name_first() -> None:
    assert nearest_names("scale.mdoe", KNOWN)[0] == "scale.mode"
    assert nearest_names("output.max_rnage", KNOWN)[0] == "output.max_range"
    assert nearest_names("stpes", KNOWN) == ["steps"]


def test_a_name_under_one_level_too_many_points_to_the_known_name_it_ends_with() -> None:
    assert nearest_names("mono_depth_node.output.max_range", KNOWN)[0] == "output.max_range"
    assert nearest_names("robot.scale.mode", KNOWN)[0] == "scale.mode"


def test_message_suffix_is_empty_when_nothing_is_close() -> None:
    assert did_you_mean("stpes", KNOWN) == "; did you mean steps?"
    assert did_you_mean("completely_unrelated_words", KNOWN) == ""


def test_several_unknown_names_each_get_their_nearest() -> None:
    assert did_you_mean_each(["stpes"], KNOWN) == "; did you mean steps?"
    text = did_you_mean_each(["stpes", "sede", "completely_unrelated_words"], KNOWN)
    assert text == "; did you mean steps (for stpes), seed (for sede)?"
    assert did_you_mean_each(["completely_unrelated_words"], KNOWN) == ""


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/camera/image_raw", None),
        ("camera/image_raw", None),
        ("~/image", None),
        ("~", None),
        ("/{node}/image", None),
        ("", "it is empty"),
        ("/front-cam/image", "it contains '-'"),
        ("/cam info", "it contains ' '"),
        ("/velodyne//points", "empty token"),
        ("/points/", "ends with '/'"),
        ("/", "root namespace"),
        ("/cam/1st", "starts with a digit"),
        ("~image", "'~' may only begin it"),
        ("/cam/~/image", "'~' may only begin it"),
        ("{ns}/image", None),
        ("/{namespace}/{node}_image", None),
        ("/{robot}/camera/image", "unknown substitution {robot}"),  # rcl: ValueError from create_subscription
        ("/a/{}/b", "unknown substitution {}"),
        ("/cam{/image", "'{' and '}' do not pair"),  # rcl: InvalidTopicNameException
        ("/cam/image}", "'{' and '}' do not pair"),
        ("/a/{{node}}", "'{' and '}' do not pair"),
    ],
)
def test_a_topic_name_is_checked_as_rcl_checks_it(name: str, problem: str | None) -> None:
    found = topic_name_problem(name)
    assert found is None if problem is None else (found is not None and problem in found), found
