"""The API reference a plugin author reads is built from the docstrings: every module a plugin imports
gets a page, and every field of what the hooks receive and return says its type and what it means."""

import dataclasses
import importlib
import sys
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build_support"))
import api_docs  # noqa: E402

pdoc = pytest.importorskip("pdoc", reason="pdoc is a dev dependency (pip install -e '.[dev]')")

HOOK_TYPES = {
    "cosell.context": ("PartnerFacts", "PartnerDeal", "RunContext", "RunReport", "PartnerRow"),
    "cosell.records": ("Partner", "Deal", "Involvement", "Activity", "MdfClaim", "RecordSet"),
    "cosell.results": (
        "MetricDefinition",
        "ScorePart",
        "Score",
        "TierDecision",
        "PartnerStanding",
        "LineKind",
        "PayoutLine",
        "Projection",
        "LedgerLine",
        "TierRecord",
        "History",
    ),
    "cosell.periods": ("Period",),
    "cosell.computation": ("Computation",),
}


def _fields(cls):
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return list(typing.get_type_hints(cls))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    output = tmp_path_factory.mktemp("api")
    pages = api_docs.build(output)
    return output, pages


def test_every_module_a_plugin_imports_has_a_page_with_its_docstring(reference):
    output, pages = reference
    assert (output / "index.html").is_file()
    for name, page in zip(api_docs.API_MODULES, pages, strict=True):
        html = page.read_text(encoding="utf-8")
        summary = (importlib.import_module(name).__doc__ or "").strip().splitlines()[0]
        assert summary and summary.split(":")[0].split("(")[0][:40] in html, name


@pytest.mark.parametrize("module,name", [(m, n) for m, names in HOOK_TYPES.items() for n in names])
def test_every_field_of_what_hooks_receive_has_a_type_and_a_meaning(module, name):
    doc = pdoc.doc.Module.from_name(module)
    cls = doc.get(name)
    assert cls is not None and cls.docstring, f"{module}.{name} has no docstring"
    undocumented = []
    for field in _fields(getattr(importlib.import_module(module), name)):
        member = cls.members.get(field)
        if member is None or not member.docstring.strip() or member.annotation_str in ("", "None"):
            undocumented.append(field)
    assert undocumented == [], f"{module}.{name}: fields without a docstring: {undocumented}"


def test_a_fields_type_and_meaning_reach_the_page(reference):
    output, _ = reference
    html = (output / "cosell" / "context.html").read_text(encoding="utf-8")
    assert "partners" in html and "PartnerRow" in html and "The period earnings" in html
