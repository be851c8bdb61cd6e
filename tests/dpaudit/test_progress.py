"""Progress lines in a CI log and bars in a terminal (`dpaudit.progress.ClickProgress`)."""

import io

from dpaudit.progress import ClickProgress, Progress


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_log_mode_prints_a_line_per_finished_model_with_count_and_times():
    out, clock = io.StringIO(), _Clock()
    progress = ClickProgress(tty=False, file=out, clock=clock, heartbeat=30)
    progress.expect(2)
    progress.expect(1)  # stages add up
    with progress.model("baseline target", 3) as advance:
        clock.now += 12.34
        for _ in range(3):
            advance(1)
    progress.reused("dp target", "out/models")
    progress.done("dp shadow 1/1", 4.0)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/3] baseline target") and "trained in 12.3 s" in lines[0]
    assert "(elapsed 12 s)" in lines[0]
    assert lines[1].startswith("[2/3] dp target") and "reused from out/models" in lines[1]
    assert lines[2].startswith("[3/3] dp shadow 1/1") and "trained in 4.0 s" in lines[2]
    assert len(lines) == 3  # no per-epoch lines for a quick model


def test_log_mode_long_training_reports_epochs_at_most_every_heartbeat():
    out, clock = io.StringIO(), _Clock()
    progress = ClickProgress(tty=False, file=out, clock=clock, heartbeat=30)
    with progress.model("dp target", 10) as advance:
        for _ in range(10):
            clock.now += 11  # a line at epochs 3, 6 and 9 (>= 30 s apart); none at the end
            advance(1)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["  dp target: epoch 3/10, 33 s", "  dp target: epoch 6/10, 66 s",
                         "  dp target: epoch 9/10, 99 s"]
    assert lines[3].startswith("[1] dp target") and "trained in 110.0 s" in lines[3]


def test_terminal_mode_draws_a_bar_with_the_count():
    out = io.StringIO()
    progress = ClickProgress(tty=True, file=out)
    progress.expect(2)
    with progress.model("baseline target", 2) as advance:
        advance(2)
    assert "[1/2] baseline target" in out.getvalue()
    with progress.model("dp target", 2) as advance:
        advance(2)
    assert "[2/2] dp target" in out.getvalue()


def test_base_progress_is_silent_and_reuse_falls_back_to_note():
    notes = []

    class Recording(Progress):
        def note(self, text):
            notes.append(text)

    progress = Recording()
    progress.expect(3)
    with progress.model("x", 2) as advance:
        advance(1)
    progress.done("y", 1.0)
    progress.reused("z", "dir")
    assert notes == ["z                      reused from dir"]
