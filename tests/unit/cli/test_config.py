"""psych_plugin/cli/config.py: `psych check-config` exit codes."""

from __future__ import annotations

from psych_plugin.cli import main
from tests.conftest import FIXTURES

GUIDE = FIXTURES / "guide_config.yml"


def test_check_config_exit_codes(tmp_path, capsys):
    assert main(["check-config", str(GUIDE)]) == 1
    assert "use_flash_attention: unknown key" in capsys.readouterr().out
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1, 2\nb: 3\n")
    assert main(["check-config", str(broken)]) == 2
    assert "invalid YAML" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "none.yml")]) == 2
