"""What a storage reader had to skip or salvage in one input file (a damaged chunk, a truncated tail).

Each storage reader of :mod:`mono_depth_ros.bag.storage` keeps one :class:`StorageIntegrity`; the bag runner prints
it in the summary so that nothing lost in the input goes unreported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StorageIntegrity:
    """Damage found in one storage file (``.mcap`` or ``.db3``), filled in while it is read.

    Attributes:
        path: the storage file.
        truncated: the file ends part-way (no MCAP footer, or fewer SQLite pages than its header declares).
        recovered: messages read back from a truncated file (every complete one).
        expected: messages the file should hold (from its metadata), or None where nothing says.
        skipped: topic → messages not read because their chunk or page is damaged.
        problems: one line per damaged region (offset, what is wrong).
        unverified: the file stores no checksums, so silent corruption of a payload cannot be detected.
        missing: the bag's metadata.yaml lists the file but it is not there (none of its ``expected`` messages is
            read).
    """

    path: Path
    truncated: bool = False
    recovered: int = 0
    expected: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unverified: bool = False
    missing: bool = False

    def skip(self, topic: str, count: int) -> None:
        """Count ``count`` messages of ``topic`` lost in a damaged region."""
        if count:
            self.skipped[topic] = self.skipped.get(topic, 0) + count

    @property
    def damaged(self) -> bool:
        """Anything was lost or salvaged."""
        return self.truncated or self.missing or bool(self.skipped) or bool(self.problems)

    def lines(self) -> list[str]:
        """Console lines for the summary (empty for an intact file)."""
        out: list[str] = []
        if self.missing:
            count = "an unknown number of" if self.expected is None else f"its {self.expected}"
            out.append(
                f"{self.path.name} is missing: none of {count} messages is read (the bag's metadata.yaml lists it); "
                "re-copy it from the recording"
            )
        if self.truncated:
            total = "an unknown number (the file's index is lost)" if self.expected is None else str(self.expected)
            out.append(f"{self.path.name} is truncated: recovered {self.recovered} of {total} messages")
        if self.skipped:
            counts = ", ".join(f"{topic} {n}" for topic, n in sorted(self.skipped.items()))
            out.append(f"{self.path.name}: skipped messages in damaged regions: {counts}")
        out.extend(f"{self.path.name}: {problem}" for problem in self.problems)
        return out
