"""The ledger stays a pure library that could be published alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_ledger_pulls_in_no_web_storage_or_qr_library() -> None:
    code = (
        "import sys, ledger, ledger.cli\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'flask', 'boto3', 'botocore', 'segno', 'app', 'storefront', 'werkzeug'})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_ledger_sources_import_nothing_from_the_app() -> None:
    for path in (ROOT / "ledger").glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1]
                assert not module.startswith(("app", "storefront", "flask", "boto3", "segno")), (
                    f"{path.name}: {stripped}"
                )
