from __future__ import annotations

import pytest

from roar.recording.secrets import REDACTED, redact_argv, redact_env, redact_text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("aws s3 cp x --profile p AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwx'", "abcdefghijklmnopqrstuvwx"),
        ("git clone https://alice:s3cretpassword@github.com/x/y", "s3cretpassword"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz", "sk-abcdefghij"),
        ("hf_abcdefghijklmnopqrstuvwxyz0123456789 used", "hf_abcdefghij"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef&x=1", "deadbeef"),
        ("DB_PASSWORD=hunter2 python x.py", "hunter2"),
    ],
)
def test_redact_text(text: str, leak: str) -> None:
    cleaned = redact_text(text)
    assert leak not in cleaned and REDACTED in cleaned


def test_harmless_text_is_untouched() -> None:
    text = "python train.py --epochs=10 --lr 0.001 data/token_counts.csv MODEL=resnet50"
    assert redact_text(text) == text


def test_redact_argv_and_env() -> None:
    argv = ["python", "x.py", "--api-key", "abc123", "--token=zzz", "--epochs", "3"]
    assert redact_argv(argv) == [
        "python", "x.py", "--api-key", REDACTED, f"--token={REDACTED}", "--epochs", "3",
    ]  # fmt: skip
    assert redact_env({"WANDB_API_KEY": "k", "SEED": "42", "HF_TOKEN": "t"}) == {
        "WANDB_API_KEY": REDACTED, "SEED": "42", "HF_TOKEN": REDACTED,
    }  # fmt: skip


def test_working_directory_variables_are_not_credentials() -> None:
    # PWD matches the "pwd" (password) pattern by name alone; DB_PWD really is a password.
    assert redact_env({"PWD": "/home/me/proj", "OLDPWD": "/home/me", "DB_PWD": "hunter2"}) == {
        "PWD": "/home/me/proj", "OLDPWD": "/home/me", "DB_PWD": REDACTED,
    }  # fmt: skip
