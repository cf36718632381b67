"""One declaration per setting: the environment, the command line and the Python API accept and refuse alike."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import answer
from assistant.cli import build_parser, main
from assistant.service import Assistant
from assistant.settings import AssistantSettings, all_settings
from ingest.declarations import SettingError
from ingest.settings import Settings
from tests.conftest import ROOT

QUESTION = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ask", QUESTION, "--k", "0"], "--k must be a whole number from 1 to 50, not '0'"),
        (["ask", QUESTION, "--k", "-3"], "--k must be a whole number from 1 to 50, not '-3'"),
        (["ingest", "--wait", "nan"], "--wait must be a number of seconds from 0 to 86400, not 'nan'"),
        (["ask", ""], "the question is empty"),
        (["ask", " \u200f "], "the question is empty"),
        (["chat", "--port", "99999"], "--port must be a whole number from 1 to 65535, not '99999'"),
        (["ingest", "--fields", "body=text"], "--fields must be FIELD=COLUMN pairs separated by commas, FIELD one of"),
    ],
)
def test_invalid_flags_fail_with_one_line_saying_what_is_allowed(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        code = main(args)
        raise SystemExit(code)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ASSISTANT_SENTENCE_WEIGHT", "nan", "ASSISTANT_SENTENCE_WEIGHT must be a number from 0 to 1, not 'nan'"),
        ("ASSISTANT_LEXICAL_WEIGHT", "-1", "ASSISTANT_LEXICAL_WEIGHT must be a number from 0 to 1"),
        ("ASSISTANT_CROSS_LEXICAL_WEIGHT", "1.5", "ASSISTANT_CROSS_LEXICAL_WEIGHT must be a number from 0 to 1"),
        ("ASSISTANT_FOLLOW_UPS", "sometimes", "ASSISTANT_FOLLOW_UPS must be auto, off or always"),
        ("ASSISTANT_RERANK", "ture", "ASSISTANT_RERANK must be on or off (1, true, yes, on / 0, false, no, off)"),
        ("ASSISTANT_K", "five", "ASSISTANT_K must be a whole number from 1 to 50, not 'five'"),
        ("ASSISTANT_LLM_TIMEOUT", "inf", "ASSISTANT_LLM_TIMEOUT must be a number of seconds from 0.1 to 3600"),
        ("ASSISTANT_CHROMA_URL", "localhost:8000", "ASSISTANT_CHROMA_URL must be empty (the embedded store) or"),
        ("ASSISTANT_AUTH", "admin", "ASSISTANT_AUTH must be USER:PASSWORD (both non-empty), not the value given"),
    ],
)
def test_invalid_environment_values_fail_everywhere_with_one_line(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        AssistantSettings.from_env({variable: value})
    result = run_cli("status", env={variable: value})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"Error: {expected}" or result.stderr.startswith(f"Error: {expected}")
    assert result.stderr.count("\n") == 1


def test_valid_values_are_read_from_the_environment_and_flags_override_them() -> None:
    settings = AssistantSettings.from_env(
        {"ASSISTANT_RERANK": "on", "ASSISTANT_K": " 7 ", "ASSISTANT_CHUNK_OVERLAP": "0", "ASSISTANT_LOCK_WAIT": "2.5"}
    )
    assert settings.rerank is True and settings.k == 7
    assert settings.index.chunk_overlap_sentences == 0 and settings.index.lock_wait == 2.5
    args = build_parser().parse_args(["ask", "q", "--k", "3", "--no-rerank"])
    assert (args.k, args.rerank) == (3, False)
    assert AssistantSettings.from_env({"ASSISTANT_K": "7"}, k=args.k).k == 3


def test_python_api_refuses_the_same_values(seed_assistant: Assistant) -> None:
    with pytest.raises(SettingError, match="k must be a whole number from 1 to 50, not 0"):
        AssistantSettings(k=0)
    with pytest.raises(SettingError, match=r"lexical_weight must be a number from 0 to 1, not nan"):
        AssistantSettings.from_env({}, lexical_weight=float("nan"))
    with pytest.raises(SettingError, match="rerank must be on or off"):
        AssistantSettings(rerank="yes")  # type: ignore[arg-type]
    with pytest.raises(SettingError, match="unknown setting 'kk'"):
        AssistantSettings.from_env({}, kk=3)
    with pytest.raises(SettingError, match="k must be a whole number from 1 to 50, not -3"):
        seed_assistant.ask(QUESTION, k=-3)
    with pytest.raises(SettingError, match="k must be"):
        seed_assistant.ask(QUESTION, k=0)
    assert Settings(index_dir="somewhere").index_dir == Path("somewhere")  # type: ignore[arg-type]


def test_sources_must_be_a_list_of_indexed_documents(
    lexical_seed_index: AssistantSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(lexical_seed_index.index.index_dir))
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", lexical_seed_index.index.embedding_model)
    with pytest.raises(ValueError, match=r"sources must be a list of document paths, e.g. \['file.txt'\]"):
        answer(QUESTION, sources="file.txt")
    with pytest.raises(ValueError, match="not an indexed document: '003_0262f053a42b4a37'; did you mean"):
        answer(QUESTION, sources=["003_0262f053a42b4a37"])
    assert answer(QUESTION, sources=("003_0262f053a42b4a37.txt",)).citations[0].source == "003_0262f053a42b4a37.txt"


def test_every_setting_is_declared_once_with_what_the_entry_points_need() -> None:
    names = [item.spec.env for item in all_settings()]
    assert len(names) == len(set(names))
    for item in all_settings():
        assert item.spec.env.startswith("ASSISTANT_") and item.spec.help and item.describe()
        item.check(item.default, item.name)  # every default is allowed by its own declaration
    flags = [item.spec.flag for item in all_settings() if item.spec.flag]
    assert len(flags) == len(set(flags))
    help_text = "".join(sub.format_help() for sub in _subparsers())
    for item in all_settings():
        if item.spec.flag:
            assert item.spec.flag in help_text and item.spec.env in help_text


def _subparsers() -> list[argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices.values())


def test_chat_on_a_busy_port_fails_before_printing_its_url(tmp_path: Path, docs: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli(
            "chat", "--port", port, "--docs", str(docs), "--index", str(tmp_path / "index"), "--model", "/no/model"
        )
    assert result.returncode == 1
    assert "Open http" not in result.stdout and "Traceback" not in result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "--port" in result.stderr
    assert not (tmp_path / "index").exists()  # refused before indexing and loading models, not after
