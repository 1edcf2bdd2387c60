"""Project hygiene: the README's commands are the ones CI runs, and nothing big is committed."""
from __future__ import annotations

import re

from .conftest import REPO


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = _bash_blocks(readme)
    test_cmd = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_readme_has_an_install_and_run_command() -> None:
    first = _bash_blocks((REPO / "README.md").read_text())[0]
    assert "pip install -r requirements.txt" in first and "pytest" not in first


def test_torch_and_torchvision_are_pinned_as_a_pair() -> None:
    reqs = (REPO / "requirements.txt").read_text()
    assert re.search(r"^torch==\d", reqs, re.M) and re.search(r"^torchvision==\d", reqs, re.M)


def test_weights_and_outputs_are_ignored() -> None:
    ignore = (REPO / ".gitignore").read_text().splitlines()
    assert "outputs/" in ignore and "checkpoints/*" in ignore and "!checkpoints/manifest.json" in ignore


def test_sample_clip_is_a_short_real_video() -> None:
    from demo.io.video import VideoInfo

    info = VideoInfo.probe(REPO / "videos" / "sample.mp4")
    assert info.num_frames >= 27 and (REPO / "videos" / "sample.mp4").stat().st_size < 2_000_000
    assert "videos/sample.mp4" in (REPO / "README.md").read_text()
