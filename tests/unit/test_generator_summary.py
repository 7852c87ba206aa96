"""gateway.generator.summary_text and brief_text: the shorter texts ``make demo`` may embed."""

from __future__ import annotations

from gateway.generator import embedding_text, generate, summary_text


def test_summary_is_title_skills_and_the_first_three_sentences() -> None:
    for posting in generate(200, seed=3):
        summary = summary_text(posting)
        full = embedding_text(posting)
        assert summary.startswith(embedding_text({**posting, "description": ""}))
        sentences = posting["description"].split(". ")
        assert ". ".join(sentences[:3]).rstrip(".") in summary
        if len(sentences) > 3:
            assert sentences[3].rstrip(".") not in summary
            assert len(summary.split()) < len(full.split())
        assert summary.endswith(".")


def test_brief_is_title_and_skills_only() -> None:
    from gateway.generator import EMBED_TEXTS, brief_text

    for posting in generate(200, seed=3):
        brief = brief_text(posting)
        assert brief.startswith(posting["title"].split(" (")[0].split(",")[0])
        assert all(skill in brief for skill in posting["skills"])
        assert posting["description"].split(". ")[0] not in brief
        assert summary_text(posting).startswith(brief)
    assert set(EMBED_TEXTS) == {"full", "summary", "brief"}
