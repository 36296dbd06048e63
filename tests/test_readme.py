"""The README's two set-up commands stay true: CI runs exactly the test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sh_blocks(text: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.startswith("```sh"):
            inside, current = True, []
        elif line.startswith("```") and inside:
            inside = False
            blocks.append("\n".join(current).strip())
        elif inside:
            current.append(line)
    return blocks


def test_ci_runs_the_readme_test_command():
    blocks = _sh_blocks((ROOT / "README.md").read_text())
    run_command, test_command = blocks[0], blocks[1]
    assert "pytest" in test_command and "pytest" not in run_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_run_command_starts_polychat():
    run_command = _sh_blocks((ROOT / "README.md").read_text())[0]
    assert run_command.endswith("polychat") or "polychat serve" in run_command
