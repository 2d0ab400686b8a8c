"""How the house is built: what core may spell."""

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
BUILT_IN_KINDS = ("signing_bonus", "baseline", "commission", "accelerator", "milestone", "clawback", "mdf", "cap",
                  "budget")  # fmt: skip


def test_no_built_in_kind_name_is_spelled_under_core():
    # Core asks a line kind's declared properties (LineKind) instead of comparing names: a rule's kind
    # is spelled only by the plugin that declares it.
    names = "|".join(BUILT_IN_KINDS)
    pattern = re.compile(rf"""(["'])({names})\1""")
    found = [
        f"{path.relative_to(CORE.parent)}:{number}: {text.strip()}"
        for path in sorted(CORE.rglob("*.py"))
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(text)
    ]
    assert found == []
