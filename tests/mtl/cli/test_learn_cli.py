"""`mtl learn` then `mtl assign` on a tiny synthetic data set: the same topics for the training videos."""

import numpy as np
import pandas as pd
from click.testing import CliRunner

from mtl.cli import main
from topic_learning.data import SyntheticConfig, generate


def test_learn_then_assign_gives_the_training_topics(tmp_path, monkeypatch):
    data = tmp_path / "data"
    generate(
        SyntheticConfig(n_videos=150, n_users=10, n_days=1, seed=2, cover_size=32, workers=1),
        data,
        progress=False,
    )
    for key, value in {
        "MTL_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "MTL_LEARNING__TEXT_MODEL": "char-ngram",
        "MTL_LEARNING__IMAGE_SIZE": "32",
        "MTL_LEARNING__ITERATIONS": "3",
        "MTL_LEARNING__BATCH_SIZE": "32",
        "MTL_LEARNING__N_TOPICS": "6",
        "MTL_LEARNING__WALK_LENGTH": "10",
        "MTL_LEARNING__WALKS_PER_NODE": "2",
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    learned = runner.invoke(main, ["learn", "--corpus", str(data), "-q"])
    assert learned.exit_code == 0, learned.output
    assert "(K-means 6)" in learned.output and "tau_3 " in learned.output
    model_dir = next((tmp_path / "artifacts" / "topics" / "synthetic").iterdir())

    out = tmp_path / "assigned.parquet"
    assigned = runner.invoke(
        main, ["assign", "--model", str(model_dir), "--corpus", str(data), "--out", str(out), "-q"]
    )
    assert assigned.exit_code == 0, assigned.output
    trained = pd.read_parquet(model_dir / "video_topics.parquet").set_index("video_id")
    again = pd.read_parquet(out).set_index("video_id").loc[trained.index]
    np.testing.assert_array_equal(np.stack(again["topic_ids"]), np.stack(trained["topic_ids"]))

    # A second run continues the lineage: same corpus, same settings -> IDs carried over.
    relearned = runner.invoke(main, ["learn", "--corpus", str(data), "-q"])
    assert relearned.exit_code == 0 and "topic IDs vs" in relearned.output

    bad = runner.invoke(main, ["assign", "--model", str(tmp_path), "--corpus", str(data), "--out", str(out)])
    assert bad.exit_code == 1 and bad.output.startswith("error: ") and "model.json missing" in bad.output
