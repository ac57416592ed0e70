"""The example of the README's "From Python" section runs as written: its ```python block is
saved as a script and run by this interpreter in a new process (as a user would run it; the
DataLoader's workers need a real `__main__`). Skipped without torch."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO


def readme_example() -> str:
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one python example"
    return blocks[0]


def test_the_example_is_about_ten_lines_and_uses_the_documented_api():
    code = readme_example()
    assert len(code.strip().splitlines()) <= 20
    for name in ("segloss.unet_weights", "segloss.torch.Loss", "lovasz", "backward()"):
        assert name in code


def test_the_readme_example_runs(tmp_path):
    pytest.importorskip("torch")
    script = tmp_path / "example.py"
    # the example as written, then a line showing the last step's loss (a finite float)
    script.write_text(readme_example() + "\nprint('LOSS', float(loss))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    value = float(out.stdout.split("LOSS", 1)[1])
    assert value == value and 0.0 < value < 100.0
