"""A signal whose KeyboardInterrupt Python swallows (it lands in a weakref callback or __del__, where
Python can only print "Exception ignored") must still stop the run before its outputs take the
target's place. Seen in CI: an optimize interrupted during an import finished and exited 0."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from healthreach.commands import outfolder


class _Dies:
    def __del__(self) -> None:  # where the interpreter cannot raise: the exception goes to unraisablehook
        outfolder.interrupt(signal.SIGINT, None)


@pytest.fixture()
def handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outfolder, "_INTERRUPTED", [])
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    outfolder.handle_interrupts()
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.usefixtures("handlers")
def test_a_swallowed_interrupt_still_keeps_the_outputs_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = outfolder.plan_out(tmp_path / "out", [])
    with pytest.raises(KeyboardInterrupt):
        with outfolder.staged(plan) as folder:
            (folder / "run.json").write_text("{}", encoding="utf-8")
            _Dies()  # the signal arrives here and Python swallows its KeyboardInterrupt
            (folder / "summary.xlsx").write_text("late", encoding="utf-8")
    assert not (tmp_path / "out").exists() and not plan.staging.exists()
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.usefixtures("handlers")
def test_an_uninterrupted_run_is_put_in_place(tmp_path: Path) -> None:
    plan = outfolder.plan_out(tmp_path / "out", [])
    with outfolder.staged(plan) as folder:
        (folder / "run.json").write_text("{}", encoding="utf-8")
    assert (tmp_path / "out" / "run.json").exists()
