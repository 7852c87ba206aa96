"""The skill alias table: the shipped file, the user file's merge, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.search import skills
from schemas.search.synonyms import AliasFileError, SkillAliases, build, load, parse
from schemas.settings import SettingsError, load_settings


@pytest.fixture(scope="module")
def shipped() -> SkillAliases:
    return load()


def test_shipped_table_is_versioned_and_large(shipped: SkillAliases) -> None:
    assert shipped.version
    assert len(shipped.entries) >= 100


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("k8s", "kubernetes"),
        ("golang", "go"),
        ("js", "javascript"),
        ("ts", "typescript"),
        ("postgres", "postgresql"),
        ("psql", "postgresql"),
        ("reactjs", "react"),
        ("react.js", "react"),
        ("nodejs", "node.js"),
        ("py", "python"),
        ("ml", "machine learning"),
        ("google cloud", "gcp"),
        ("amazon web services", "aws"),
        ("csharp", "c#"),
    ],
)
def test_common_aliases(shipped: SkillAliases, alias: str, canonical: str) -> None:
    assert shipped.canonical(alias) == canonical
    assert alias in shipped.spellings(canonical)


def test_ambiguous_names_are_not_aliases(shipped: SkillAliases) -> None:
    for name in ("tf", "cv", "es", "pm"):
        assert shipped.canonical(name) == name


def test_expand_normalises_like_skills(shipped: SkillAliases) -> None:
    assert shipped.expand("  K8S ") == {"kubernetes", "k8s", "kube"}
    assert shipped.expand("\uff4b\uff18\uff53") == shipped.expand("k8s")  # fullwidth, NFKC
    assert shipped.expand("patroni") == {"patroni"}
    assert shipped.expand("   ") == frozenset()


def test_canonicals_are_spellings_postings_use(shipped: SkillAliases) -> None:
    """Every canonical is a skill of the generator or the judged corpus."""
    import json

    from gateway.generator import families

    known = {
        s
        for v in vars(families).values()
        if isinstance(v, tuple)
        for f in v
        if hasattr(f, "skills")
        for s in f.skills
    }
    corpus = Path(__file__).parents[1] / "bench" / "relevance" / "corpus.ndjson"
    for text in corpus.read_text().splitlines():
        known |= {s.lower() for s in json.loads(text)["skills"]}
    missing = {e.canonical for e in shipped.entries.values()} - known
    assert not missing


def test_user_file_merges_over_shipped(tmp_path: Path) -> None:
    path = tmp_path / "aliases.txt"
    path.write_text("# ours\n@version 7\nkubectl = kubernetes\nTF = terraform\n")
    table = load(path)
    assert table.canonical("kubectl") == "kubernetes"
    assert table.canonical("tf") == "terraform"
    assert table.canonical("k8s") == "kubernetes"  # the shipped ones stay
    assert table.version.endswith("+7")


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("k8s = kubernetes\nnonsense\n", 2, "expected 'alias = canonical'"),
        ("a = b = c\n", 1, "expected 'alias = canonical'"),
        (" = kubernetes\n", 1, "alias is empty"),
        ("kube ctl = \n", 1, "canonical is empty"),
        ("x = X\n", 1, "alias of itself"),
        ("foo = bar\nfoo = baz\n", 2, "already defined at"),
        ("kubernetes = k8s\n", 1, "another entry's canonical"),  # a cycle with the shipped entry
        ("go = golang2\n", 1, "another entry's canonical"),  # a chain: golang -> go -> golang2
        ("bad\u0007 = x\n", 1, "control character"),
        ("@version 1\n@version 2\n", 2, "second @version"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = tmp_path / "aliases.txt"
    path.write_text(text)
    with pytest.raises(AliasFileError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert says in str(err.value)


def test_setting_fails_at_start_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "aliases.txt"
    path.write_text("k8s = kubernetes\nfoo bar\n")
    with pytest.raises(SettingsError) as err:
        load_settings(skill_aliases_file=path)
    assert "JOBSTREAM_SKILL_ALIASES_FILE" in str(err.value)
    assert f"{path}:2:" in str(err.value)


def test_chains_refused_within_one_layer() -> None:
    _, entries = parse("a = b\nb = c\n", "t.txt")
    with pytest.raises(AliasFileError, match=r"^t.txt:1: 'b'|^t.txt:2: 'b'"):
        build(entries, version="x")


def test_filter_conditions_expand_alias_groups(shipped: SkillAliases) -> None:
    values: list[object] = []

    def add(value: object, cast: str) -> str:
        values.append(value)
        return f"${len(values)}{cast}"

    conds = skills.conditions(("kubernetes", "patroni"), ("go",), shipped, add)
    assert conds == ["skills @> $1::text[]", "skills && $2::text[]", "skills && $3::text[]"]
    assert values == [["patroni"], ["k8s", "kube", "kubernetes"], ["go", "golang"]]
