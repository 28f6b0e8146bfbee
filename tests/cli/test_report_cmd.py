"""`digitclf report`: one self-contained HTML file with every image embedded."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers import png_size


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: set[str] = set()
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.rows += tag == "tr"
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.mark.slow
def test_report_is_self_contained_and_embeds_every_image(saved, cli):
    import base64

    result = cli("report", "--out", "report.html")
    assert result.exit_code == 0, result.output
    assert result.stdout == "report.html\n"
    text = Path("report.html").read_text()
    parser = _Images()
    parser.feed(text)
    assert "script" not in parser.tags and "<script" not in text.lower()
    assert parser.rows == 1 + 3  # header + one row per run
    assert len(parser.sources) == 1 + 2 * 3  # the scatter, then a confusion matrix and a mistakes grid per run
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        width, height = png_size(base64.b64decode(source[len(prefix):], validate=True))
        assert width > 100 and height > 100
    for run_id in (saved.lbfgs, saved.c10, saved.idx):
        assert f'id="run-{run_id}"' in text and f'href="#run-{run_id}"' in text
    chosen = cli("report", saved.lbfgs, "--out", "one.html")
    assert chosen.exit_code == 0
    parser = _Images()
    parser.feed(Path("one.html").read_text())
    assert len(parser.sources) == 3
