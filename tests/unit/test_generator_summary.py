"""gateway.generator.summary_text: the shorter text ``make demo`` embeds."""

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
