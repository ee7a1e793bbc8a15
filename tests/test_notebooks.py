"""colab/*.ipynb run headless (nbclient, CPU) in their tiny setting and show their results.

``SIGNX_NOTEBOOK_TINY=1`` picks the tiny preset and CPU; the notebooks work on a
copy of the cached tiny run (``tests.runs.tiny_run``), so the training cells
resume from its finished checkpoints instead of training again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.runs import tiny_run

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
COLAB = Path(__file__).resolve().parents[1] / "colab"
NOTEBOOKS = ("signx_quickstart.ipynb", "signx_your_video.ipynb")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = nbformat.read(COLAB / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs"


def _run(name: str, tmp_path: Path, monkeypatch) -> str:
    """Execute a notebook; returns all its text output."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run(), workdir)
    monkeypatch.setenv("SIGNX_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("SIGNX_NOTEBOOK_WORKDIR", str(workdir))
    monkeypatch.setenv("SIGNX_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    nb = nbformat.read(COLAB / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(COLAB)}}
    )
    client.execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_quickstart(tmp_path, monkeypatch):
    text = _run(NOTEBOOKS[0], tmp_path, monkeypatch)
    assert "devices: [CpuDevice(id=0)" in text
    assert "| route / split / decoding | WER |" in text and "| pose / dev / " in text
    assert "reference:" in text and "glosses:" in text
    for png in ("skeleton", "alignment", "importance", "curves", "wer_by_length"):
        path = tmp_path / "out" / f"{png}.png"
        assert path.is_file() and path.stat().st_size > 2_000, path
    metrics = json.loads((tmp_path / "run" / "report" / "metrics.json").read_text())
    routes = {key.rsplit(" / ", 1)[0] for key in metrics["metrics"]}
    assert routes == {"pose / dev", "pose / test", "video / dev", "video / test"}, metrics


def test_your_video(tmp_path, monkeypatch):
    text = _run(NOTEBOOKS[1], tmp_path, monkeypatch)
    assert "using a sample clip of the bundle" in text and "loaded " in text and "/bundle" in text
    assert "CTC frames" in text and "WEBVTT" in text
    result = json.loads((tmp_path / "out" / "video.json").read_text())
    assert result["route"] == "video" and result["ctc_frames"] == result["num_frames"] // 4
    assert os.path.getsize(tmp_path / "out" / "alignment.png") > 2_000
