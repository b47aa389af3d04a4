"""The nearest known names to a misspelt one, for "unknown parameter / key" messages; params-file section keys."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def nearest_names(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` names of ``known`` closest to ``name``, best first.

    A known name that ``name`` ends with after a dot comes first (``mono_depth_node.output.max_range`` →
    ``output.max_range``: a section level too many, e.g. the node name repeated under ``ros__parameters``), then
    difflib's closest spellings (``scale.mdoe`` → ``scale.mode``). Empty when nothing is close.
    """
    candidates = sorted(set(known))
    suffixes = sorted((k for k in candidates if name.endswith("." + k)), key=len, reverse=True)
    close = difflib.get_close_matches(name, candidates, n=limit)
    return list(dict.fromkeys([*suffixes, *close]))[:limit]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` with :func:`nearest_names`, or ``""`` when none is close (message suffix)."""
    close = nearest_names(name, known)
    return f"; did you mean {', '.join(close)}?" if close else ""


def did_you_mean_each(names: Iterable[str], known: Iterable[str]) -> str:
    """The suffix for several unknown names: ``"; did you mean steps (for stpes), seed (for sede)?"``.

    One name gives :func:`did_you_mean`'s text (its nearest names); names with no close match are left out.
    """
    names, known = list(names), list(known)
    if len(names) == 1:
        return did_you_mean(names[0], known)
    pairs = [(nearest_names(name, known, limit=1), name) for name in names]
    text = ", ".join(f"{close[0]} (for {name})" for close, name in pairs if close)
    return f"; did you mean {text}?" if text else ""


def section_matches(key: str, node_fqn: str) -> bool:
    """Whether a params-file section ``key`` applies to the node named ``node_fqn`` (``/ns/name``).

    rclpy's rule (node.cpp ``_parse_param_overrides``, seen on real Humble): a missing leading ``/`` is added,
    ``/**`` matches any number of name parts, ``/*`` exactly one, and the key must match the whole name.
    """
    pattern = key if key.startswith("/") else "/" + key
    pattern = re.escape(pattern).replace(r"/\*\*", r"(/\w+)*").replace(r"/\*", r"/\w+")
    return re.fullmatch(pattern, node_fqn) is not None


_TOPIC_CHARACTERS = re.compile(r"[A-Za-z0-9_/~{}]")
_SUBSTITUTION = re.compile(r"\{([^{}]*)\}")
SUBSTITUTIONS = ("node", "ns", "namespace")
"""The ``{...}`` substitutions rcl expands in a topic name (``rcl_expand_topic_name``); any other is refused."""


def topic_name_problem(name: str) -> str | None:
    """Why rcl would refuse ``name`` as a topic name (its ``rcl_validate_topic_name`` rules), or None when it takes it.

    Characters: letters, digits, ``_``, ``/``, paired ``{}`` substitutions (:data:`SUBSTITUTIONS`) and a leading
    ``~`` (``~`` or ``~/...``); no empty token (``//``), no trailing ``/``, no token starting with a digit. Absolute
    (``/a/b``) and relative (``a/b``) names alike.
    """
    if not name:
        return "it is empty"
    bad = sorted({c for c in name if not _TOPIC_CHARACTERS.fullmatch(c)})
    if bad:
        return f"it contains {', '.join(repr(c) for c in bad)} (a ROS name takes letters, digits, _ and /)"
    if "{" in _SUBSTITUTION.sub("", name) or "}" in _SUBSTITUTION.sub("", name):
        return "its '{' and '}' do not pair (rcl substitutes {node}, {ns} and {namespace} in a topic name)"
    unknown = [found for found in _SUBSTITUTION.findall(name) if found not in SUBSTITUTIONS]
    if unknown:
        return (
            f"it has an unknown substitution {{{unknown[0]}}} (rcl substitutes {{node}}, {{ns}} and {{namespace}} "
            f"only; a launch or shell variable is not expanded in a parameter's value: write the name out)"
        )
    if "~" in name[1:] or (name[:2] not in ("~", "~/") and name.startswith("~")):
        return "'~' may only begin it (~ or ~/name: the node's private namespace)"
    if name.endswith("/") and name != "/":
        return "it ends with '/'"
    if name in ("/", "~"):
        return "it is the root namespace alone" if name == "/" else None
    tokens = name.lstrip("~").lstrip("/").split("/")
    if any(token == "" for token in tokens):
        return "it has an empty token ('//')"
    if any(token[0].isdigit() for token in tokens):
        return "a token starts with a digit"
    return None
