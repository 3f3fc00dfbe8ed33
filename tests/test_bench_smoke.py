"""The dialogue benchmark runs end to end (its figures are read from its output, never asserted
as timings here: speed targets live in bench/)."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dialogue_bench_runs_whole_conversations_and_reports_json():
    proc = subprocess.run([sys.executable, "bench/dialogue.py", "--conversations", "60"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["conversations"] == 60
    assert result["turns"] > 60  # every conversation got past its first turn
    assert set(result) >= {"turn_p50_ms", "turn_p95_ms", "identify_p95_ms", "turn_p95_ratio_to_identify_p95"}
