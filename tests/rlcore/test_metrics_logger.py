"""metrics.csv survives a kill: a partial last row is dropped on resume, a rewrite is atomic."""

import os

from rlcore.logging import MetricsLogger


def test_a_partial_last_row_is_dropped_on_resume(tmp_path):
    logger = MetricsLogger(str(tmp_path))
    logger.write(10, {"eval/return": -3.5})
    logger.write(20, {"eval/return": -2.5})
    logger.close()
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("3")  # killed while appending the row of step 30: "3" of "30.0,..."
    resumed = MetricsLogger(str(tmp_path), resume=True)
    assert [r["step"] for r in resumed.history] == [10.0, 20.0]
    assert resumed.history[1]["eval/return"] == -2.5
    resumed.truncate_after(20)  # rewrites the file whole
    resumed.write(30, {"eval/return": -1.5, "eval/cost": 0.0})  # a new column: rewrite again
    resumed.close()
    again = MetricsLogger(str(tmp_path), resume=True)
    assert [r["step"] for r in again.history] == [10.0, 20.0, 30.0]
    assert again.history[2] == {"step": 30.0, "eval/return": -1.5, "eval/cost": 0.0}
    assert not os.path.exists(tmp_path / "metrics.csv.tmp")
