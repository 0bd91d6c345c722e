"""`mtl ranker train` trains and saves the model `mtl serve` loads; bad input is one line."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_train_saves_a_model_the_scorer_loads(tmp_path):
    from mtl.settings import load_settings
    from ranker.scorer import load_scorer
    from topic_learning.data import SyntheticConfig, generate

    generate(
        SyntheticConfig(n_videos=60, n_users=20, n_days=2, n_exposures=600, covers=False, seed=2),
        tmp_path / "corpus",
        progress=False,
    )
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "ranker", "train", "--corpus", str(tmp_path / "corpus"), "--no-topics"],
        capture_output=True,
        text=True,
        env={**os.environ, "MTL_ARTIFACT_DIR": str(tmp_path / "artifacts")},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ranker wide_deep:" in out.stdout
    settings = load_settings(artifact_dir=tmp_path / "artifacts")
    assert load_scorer(settings.artifact_dir / "ranker" / "default") is not None


def test_unknown_corpus_is_one_error_line():
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "ranker", "train", "--corpus", "nope", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: unknown corpus")
