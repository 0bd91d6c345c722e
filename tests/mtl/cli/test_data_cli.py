"""``mtl data``: synth, load and info through click, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mtl.cli import main
from topic_learning.data import Dataset


def run(*args: str):
    return CliRunner().invoke(main, ["data", *args])


def test_synth_writes_a_loadable_data_set_that_info_describes(tmp_path: Path):
    out = tmp_path / "synth"
    result = run("synth", "--videos", "60", "--users", "15", "--days", "2", "--seed", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    dataset = Dataset.load(out)
    assert len(dataset.videos) == 60 and dataset.videos["cover"].notna().all()
    assert len(dataset.interactions) == 20 * 15 * 2

    info = run("info", str(out))
    assert info.exit_code == 0, info.output
    for label in (
        "videos",
        "tagged videos",
        "distinct tags",
        "classes",
        "users",
        "exposures",
        "clicks",
        "CTR",
    ):
        assert label in info.output
    assert "600" in info.output


def test_synth_without_covers_and_with_a_cover_size(tmp_path: Path):
    result = run(
        "synth", "--videos", "30", "--users", "5", "--days", "1", "--no-covers", "-q", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert Dataset.load(tmp_path).videos["cover"].isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("synth", "--videos", "0", "--out", "{tmp}/x"),
            "error: synthetic config: n_videos must be at least 1",
        ),
        (("info", "{tmp}/absent"), "error: {tmp}/absent: data set directory not found"),
        (("info", "{tmp}"), "error: {tmp}/manifest.json: not found"),
        (("load", "imdb", "--out", "{tmp}/x"), "error: unknown data set 'imdb'"),
        (("load", "kuairec", "--data-dir", "{tmp}", "--out", "{tmp}/x"), "error: {tmp}/kuairec/"),
    ],
)
def test_bad_input_exits_with_one_error_line(tmp_path: Path, args: tuple[str, ...], message: str):
    result = run(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path))
    assert "Traceback" not in result.output


def test_every_command_has_help():
    for command in ("synth", "load", "info"):
        result = run(command, "--help")
        assert result.exit_code == 0 and len(result.output.splitlines()) > 3
