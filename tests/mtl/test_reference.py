"""docs/configuration.md is the generated reference of every settings key, and it is current."""

from mtl.paths import project_root
from mtl.reference import configuration_reference


def test_configuration_doc_is_current():
    doc = project_root() / "docs" / "configuration.md"
    assert doc.read_text() == configuration_reference(), "run: mtl config reference > docs/configuration.md"


def test_every_section_and_env_name_is_listed():
    text = configuration_reference()
    for section in ("learning", "stream", "ranker", "devstack", "demo", "kafka", "redis"):
        assert f"\n## {section}\n" in text
    assert "`MTL_STREAM__MIN_CTR`" in text and "`MTL_RANKER__CANDIDATES`" in text


def test_readme_results_summary_follows_docs_results():
    from mtl.results import SUMMARY_KEY, results_summary

    root = project_root()
    readme = (root / "README.md").read_text()
    begin, end = f"<!-- BEGIN {SUMMARY_KEY} -->", f"<!-- END {SUMMARY_KEY} -->"
    body = readme[readme.index(begin) + len(begin) : readme.index(end)].strip()
    assert body == results_summary((root / "docs" / "results.md").read_text()).strip()
