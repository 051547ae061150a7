"""Offline W&B runs read back through W&B's own reader (`wandb leet inspect --json`,
one JSON record a line): used by tracking (what did an earlier session write?) and by
the analysis (a sweep from offline W&B files). wandb 0.31 has no Python API for this."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def records(session: str | Path) -> list[dict]:
    """The records of one offline session dir; [] where W&B wrote nothing readable."""
    exe = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    out = subprocess.run(
        [exe, "leet", "inspect", "--json", str(session)], capture_output=True, text=True
    ).stdout
    parsed = []
    for line in out.splitlines():
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn record at the end of a killed session
    return parsed
