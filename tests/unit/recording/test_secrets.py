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


SECRET = "s3cr3tV4lue"
# Command lines as users type them, each hiding SECRET somewhere: none may keep it.
LEAKY_COMMANDS = [
    ["aws", "configure", "set", "--aws-secret-access-key", SECRET],
    ["aws", "s3", "ls", f"--aws-secret-access-key={SECRET}"],
    ["python", "auth.py", "--client-secret", SECRET],
    ["python", "auth.py", f"--client_secret={SECRET}"],
    ["curl", "-H", f"X-Api-Key: {SECRET}", "https://api.example.com"],
    ["curl", f"--header=Authorization: token {SECRET}", "https://api.example.com"],
    ["curl", "--header", f"Authorization:{SECRET}", "https://x"],
    ["curl", "-H", f"Authorization: Bearer {SECRET}", "https://x"],
    ["curl", "-H", f"Authorization: Basic {SECRET}", "https://x"],
    ["curl", "-H", f"Cookie: session={SECRET}", "https://x"],
    ["curl", "-H", f"Private-Token: {SECRET}", "https://gitlab"],
    ["http", "GET", "https://x", f"Authorization:Bearer {SECRET}"],
    ["sh", "-c", f"curl -H 'Authorization: Bearer {SECRET}' https://x"],
    ["curl", "-u", f"alice:{SECRET}", "https://x"],
    ["curl", f"-ualice:{SECRET}", "https://x"],
    ["curl", f"--user=alice:{SECRET}", "https://x"],
    ["curl", "--user", f"alice:{SECRET}", "https://x"],
    ["curl", "--proxy-user", f"bob:{SECRET}", "https://x"],
    ["wget", f"--http-user=alice:{SECRET}", "https://x"],
    ["mysql", "-u", "root", f"-p{SECRET}", "db"],
    ["/usr/bin/mysqldump", f"-p{SECRET}", "db"],
    ["ssh-keygen", f"--private-key={SECRET}"],
    ["python", "train.py", "--private-key", SECRET],
    ["python", "train.py", "--hf_token", SECRET],
    ["python", "train.py", "--hf-token", SECRET],
    ["python", "train.py", "--wandb-key", SECRET],
    ["python", "train.py", "--wandb_key", SECRET],
    ["python", "train.py", "--openai-api-key", SECRET],
    ["python", "train.py", "--api-key", SECRET],
    ["python", "train.py", "--apikey", SECRET],
    ["python", "train.py", "--token", SECRET],
    ["python", "train.py", f"--token={SECRET}"],
    ["python", "train.py", "--github-token", SECRET],
    ["python", "train.py", "--password", SECRET],
    ["python", "train.py", "--db-password", SECRET],
    ["python", "train.py", f"--passwd={SECRET}"],
    ["python", "train.py", "--passphrase", SECRET],
    ["python", "train.py", "--secret", SECRET],
    ["python", "train.py", "--credentials", SECRET],
    ["python", "train.py", "--auth", SECRET],
    ["python", "train.py", "--session-token", SECRET],
    ["env", f"AWS_SECRET_ACCESS_KEY={SECRET}", "python", "x.py"],
    ["env", f"HF_TOKEN={SECRET}", "python", "x.py"],
    ["env", f"DB_PASSWORD={SECRET}", "python", "x.py"],
    ["git", "clone", f"https://alice:{SECRET}@github.com/x/y"],
    ["pip", "install", "-i", f"https://user:{SECRET}@pypi.internal/simple", "x"],
    ["python", "fetch.py", f"https://b.s3.amazonaws.com/k?X-Amz-Signature={SECRET}&a=1"],
    ["sh", "-c", f"export API_TOKEN={SECRET}; python x.py"],
]
# Tokens recognised by their shape, wherever they appear.
SHAPED = [
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "hf_abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "xoxb-123456789012-abcdefghijkl",
]
HARMLESS = [
    ["python", "train.py", "--batch-size", "32", "--lr", "0.001"],
    ["python", "train.py", "--tokenizer", "bert-base", "--max-tokens", "512"],
    ["python", "train.py", "--token-budget", "5", "--keyframe", "3"],
    ["python", "train.py", "--sort-key", "name", "--key", "data/part-0"],
    ["curl", "-u", "alice", "https://x"],  # no password given
    ["cp", "-a", "src:dir", "dst"],
    ["python", "-m", "pytest", "-pno:cacheprovider", "-k", "auth"],
    ["python", "x.py", "--auth-method", "oauth", "--passes", "3"],
    ["env", "PWD=/home/u/proj", "MODEL=resnet50", "python", "x.py"],
    ["curl", "-H", "Content-Type: application/json", "https://x"],
    ["python", "eval.py", "data/token_counts.csv", "--output", "bearer.txt"],
]


@pytest.mark.parametrize("argv", LEAKY_COMMANDS, ids=lambda a: " ".join(a)[:40])
def test_command_line_secrets_are_redacted(argv: list[str]) -> None:
    cleaned = redact_argv(argv)
    assert SECRET not in " ".join(cleaned), cleaned
    assert REDACTED in " ".join(cleaned)
    assert cleaned[0] == argv[0] and len(cleaned) == len(argv)  # still the same command


@pytest.mark.parametrize("token", SHAPED)
def test_shaped_tokens_are_redacted_anywhere(token: str) -> None:
    for argv in (["python", "x.py", token], ["python", "x.py", f"--opt={token}"]):
        assert token not in " ".join(redact_argv(argv))


@pytest.mark.parametrize("argv", HARMLESS, ids=lambda a: " ".join(a)[:40])
def test_ordinary_arguments_are_kept(argv: list[str]) -> None:
    assert redact_argv(argv) == argv


def test_the_table_is_big_enough() -> None:
    assert len(LEAKY_COMMANDS) + len(SHAPED) >= 40 and len(HARMLESS) >= 10
