"""harness.secrets: finding secrets, redacting text before it is stored, and redacting URLs."""

from __future__ import annotations

import pytest

from harness.secrets import SECRET_PATTERNS, find_secrets, mask_value, redact, redact_url

OPENAI = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"

KEYS = [
    ("openai-key", OPENAI),
    ("openai-key", "sk-" + "Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGHijkl"),
    ("anthropic-key", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345-_xyzw"),
    ("aws-access-key-id", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-access-key-id", "ASIAY34FZKBOKMUTVV7A"),
    ("github-token", "ghp_" + "a1B2" * 9),
    ("github-token", "gho_" + "Z9y8" * 9),
    ("github-token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("slack-token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKl"),
    ("slack-token", "xoxp-123456789012-abcdefABCDEF"),
    ("google-api-key", "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
    ("stripe-key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe-key", "rk_live_51HxYzAbCdEfGh"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("bearer-token", "Authorization: Bearer abcDEF1234567890ghiJKL"),
    ("private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----"),
    ("private-key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"),
]


@pytest.mark.parametrize("kind, secret", KEYS)
def test_each_kind_is_found_and_redacted(kind, secret):
    text = f"before {secret} after"
    found = find_secrets(text)
    assert [f.kind for f in found] == [kind]
    out = redact(text)
    assert out.startswith("before ") and out.endswith(" after")
    body = secret.split("\n")[1] if "\n" in secret else secret[-16:]
    assert body not in out and "…" in out


@pytest.mark.parametrize(
    "text",
    [
        "the risk-assessment-framework-for-vendors document",
        "task-management-system-overview-doc",
        "sk-some-long-hyphenated-words-here",  # prose after sk- is not random
        "Bearer authentication-is-recommended-here",
        "AKIA is a prefix of AWS keys",
        "ghp_short",
        "max_tokens=100 and temperature=0",
        "I can't wait; see INC0012345 and 2024-01-15T10:30:00Z",
        "",
    ],
)
def test_no_false_positives(text):
    assert find_secrets(text) == []
    assert redact(text) == text


def test_masks_keep_a_recognisable_prefix_and_last_four():
    assert redact(OPENAI) == "sk-proj-…ABCD"
    assert redact("AKIAIOSFODNN7EXAMPLE") == "AKIA…MPLE"
    assert (
        redact("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\nok") == "-----BEGIN PRIVATE KEY-----…\nok"
    )


def test_truncated_private_key_is_redacted_to_the_end():
    out = redact("key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n(truncated")
    assert "MHcCAQEEIB" not in out and "truncated" not in out


def test_command_line_spec_keeps_the_variable_name():
    spec = f"cmd:OPENAI_API_KEY={OPENAI} python agent.py --verbose"
    out = redact(spec)
    assert OPENAI not in out and "OPENAI_API_KEY=" in out and out.endswith("python agent.py --verbose")


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("cmd:DB_PASSWORD=hunter2hunter2 ./run.sh", "hunter2hunter2"),
        ("agent --api-key abc123xyz789 --fast", "abc123xyz789"),
        ('{"client_secret": "s3cr3t-value", "n": 1}', "s3cr3t-value"),
        ("GET /v1?access_token=tok_abcdef&page=2", "tok_abcdef"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ],
)
def test_credential_assignments_are_redacted(text, leaked):
    out = redact(text)
    assert leaked not in out


def test_assignment_redaction_keeps_unrelated_words():
    out = redact("agent --api-key abc123xyz789 --fast page=2")
    assert out == "agent --api-key … --fast page=2"


def test_redact_is_idempotent():
    text = f"OPENAI_API_KEY={OPENAI} PASSWORD=hunter2hunter2 -----BEGIN PRIVATE KEY-----\nabc"
    once = redact(text)
    assert redact(once) == once
    # A redacted key block followed by more text must not swallow that text on a second pass.
    once = redact("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\nkeep this")
    assert redact(once) == once and once.endswith("keep this")


def test_error_message_with_key_is_redacted():
    message = f"AuthenticationError: Incorrect API key provided: {OPENAI}. You can find your key at https://x"
    out = redact(message)
    assert OPENAI not in out and out.startswith("AuthenticationError: Incorrect API key provided: sk-proj-…ABCD")


def test_mask_value_never_shows_a_short_value():
    assert mask_value("abc") == "…"
    assert "hunter" not in mask_value("hunter2")
    assert mask_value("abcdefghijklmnop") == "abc…mnop"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://user:pa55w0rd@db.example.com:5432/x", "https://user:***@db.example.com:5432/x"),
        ("https://api.example.com/v1?api_key=abc123&model=gpt", "https://api.example.com/v1?api_key=***&model=gpt"),
        (
            "https://s3.example.com/o?X-Amz-Signature=deadbeef&X-Amz-Date=20240101",
            "https://s3.example.com/o?X-Amz-Signature=***&X-Amz-Date=20240101",
        ),
        ("https://x.example/cb#access_token=tok123&state=ok", "https://x.example/cb#access_token=***&state=ok"),
        ("https://blob.example/c?sv=2022&sig=AbC%2Bd", "https://blob.example/c?sv=2022&sig=***"),
        ("https://x.example/?token=&a=1", "https://x.example/?token=&a=1"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("https://user@example.com/path", "https://user@example.com/path"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_also_scrubs_tokens_in_the_path_and_bad_urls():
    out = redact_url("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
    assert "XXXXXXXXXXXXXXXXXXXX" not in out
    assert OPENAI not in redact_url(f"https://[::1/{OPENAI}")


def test_every_pattern_has_a_body_group():
    assert all("body" in p.regex.groupindex for p in SECRET_PATTERNS)
