"""Every command has --help; errors are one line without a traceback."""

import click
from click.testing import CliRunner

from mtl.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_has_help():
    runner = CliRunner()
    paths = list(_commands(main))
    assert ("devstack", "up") in paths and ("data", "synth") in paths
    for path in [(), *paths]:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_bad_config_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning: [1, 2\n")
    result = CliRunner().invoke(main, ["--config", str(bad), "devstack", "env"])
    assert result.exit_code == 1
    assert result.output.startswith("error: config file") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_usage_errors_are_one_line():
    runner = CliRunner()
    result = runner.invoke(main, ["data", "synth", "--videos", "abc", "--out", "x"])
    assert result.exit_code == 2
    assert result.output.startswith("error: Invalid value for '--videos'")
    assert result.output.count("\n") == 1
    result = runner.invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and result.output.startswith("error: No such command")
