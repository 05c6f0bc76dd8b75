"""-v / -q on the command line, and a sweep's log file."""

from __future__ import annotations

from transferbench.cli.main import main
from transferbench.logs import LOGGER, LogStream, configure, log_file


def test_quiet_silences_what_a_command_says_along_the_way_not_its_errors(tmp_path, capsys):
    configure(-1)
    try:
        print("planned 3 runs", file=LogStream())
        LOGGER.warning("a warning stays")
        err = capsys.readouterr().err
        assert "planned" not in err and "a warning stays" in err
        configure(1)
        LOGGER.debug("a debug line")
        assert "a debug line" in capsys.readouterr().err
    finally:
        configure(0)


def test_a_log_file_keeps_everything_with_timestamps(tmp_path, capsys):
    configure(-1)
    try:
        with log_file(tmp_path / "sweep.log") as path:
            stream = LogStream()
            stream.write("line one\nline ")
            stream.write("two\n")
            LOGGER.debug("details")
        assert "line" not in capsys.readouterr().err  # -q: not on the terminal
        text = path.read_text()
        assert "INFO line one" in text and "INFO line two" in text and "DEBUG details" in text
        LOGGER.info("after")
        assert "after" not in path.read_text()  # the file handler left with the sweep
    finally:
        configure(0)


def test_verbosity_flags_come_before_the_command(capsys):
    try:
        assert main(["-q", "models"]) == 0 and "unet3d" in capsys.readouterr().out  # output is not logging
        LOGGER.info("progress")
        assert "progress" not in capsys.readouterr().err  # -q: the terminal shows warnings and errors only
        assert main(["-v", "models"]) == 0
        LOGGER.debug("details")
        assert "details" in capsys.readouterr().err  # -v: the debug lines too
    finally:
        configure(0)
