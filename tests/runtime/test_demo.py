"""The README's first command ends in `livewarden demo`: the unauthorized brand and the unlisted product
must be flagged in their rooms, the restream and the loop in theirs, and nothing in the authorized room
(the original of the restream)."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
from typer.testing import CliRunner

from livewarden.cli import app
from livewarden.testing.rtmp_server import RtmpServer


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")  # shared: the generated rooms are made once


@pytest.mark.rtmp
def test_demo_through_nginx_rtmp(workdir: Path):
    ok, why = RtmpServer.available()
    if not ok:
        pytest.skip(why)
    result = CliRunner().invoke(app, ["demo", "--duration", "26", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    assert "through nginx-rtmp" in result.output
    assert "demo ok" in result.output and "deal-hunter unauthorized_brand nova" in result.output
    assert "juice-bar unlisted_product tropicana-apple" in result.output
    assert "juice-bar listing_mismatch tropicana-apple" in result.output
    summary = result.output.split("alert(s) in")[1].split("demo ok")[0]
    assert not [line for line in summary.splitlines() if "] nova-official " in line]  # the summary lists none
    # the broadcast itself: the restream of nova-official's registered live room, and the looping room
    assert "copycat restreamed_content nova-live" in summary and "copycat concurrent_restream nova-official" in summary
    assert "rerun-shop non_live_content loop" in summary
    # codes: a QR NOVA never issued, and one issued KORU code in two rooms (both flagged)
    assert "deal-hunter code_invalid nova-tags/NV9Z9Z9Z9Z" in summary
    assert "rerun-shop code_cloned koru-tags/KR5T9C2ZP8" in summary and "koru-outlet code_cloned" in summary
    # words: the seller's disguised offer and an impossible price alert; an authenticity claim does not
    assert "deal-hunter counterfeit_language bargain-king" in result.output
    assert "juice-bar price_anomaly" in result.output and "nova-official counterfeit_language" not in result.output
    assert list((workdir / "store" / "evidence" / "deal-hunter").glob("*counterfeit_language*_text.json"))
    # speech: the offer voice-deals' seller says out loud (espeak-ng), heard and flagged
    assert "voice-deals counterfeit_language bargain-king" in summary
    said = json.loads(next((workdir / "store" / "evidence" / "voice-deals").glob("*_text.json")).read_text())
    assert "speech" in json.dumps(said)
    assert list((workdir / "store" / "evidence" / "deal-hunter").glob("*_crop.jpg"))
    assert list((workdir / "store" / "evidence" / "juice-bar").glob("*unlisted_product*_frame.jpg"))


def test_demo_falls_back_to_paced_files(workdir: Path):
    result = CliRunner().invoke(app, ["demo", "--duration", "26", "--workdir", str(workdir), "--no-rtmp"])
    assert result.exit_code == 0, result.output
    assert "through nginx-rtmp" not in result.output
    assert "demo ok" in result.output and "deal-hunter unauthorized_brand nova" in result.output
    assert "juice-bar unlisted_product tropicana-apple" in result.output
