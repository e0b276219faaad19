"""Where boto3 will take an S3 store's credentials from, told without boto3 and without secrets.

For `git data env`: it follows botocore's provider chain in order, looking only at variable
names and section names, never at values. It does not run anything (credential_process, SSO,
the instance metadata service) that the real chain might, so it says "would" about those.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping


def credential_source(
    profile: str | None, remote: str, environ: Mapping[str, str] | None = None
) -> str:
    """One line: the first source in botocore's chain that has something, for data remote
    `remote` whose git config names `profile` (or None)."""
    env = os.environ if environ is None else environ
    if profile:
        # An explicit profile switches off the environment provider (botocore
        # create_credential_resolver): AWS_ACCESS_KEY_ID is then ignored.
        return _profile(profile, f"git config data.remote.{remote}.profile", env)
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        token = ", AWS_SESSION_TOKEN" if env.get("AWS_SESSION_TOKEN") else ""
        return f"environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY{token})"
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_SECRET_ACCESS_KEY"):
        return "environment, incomplete: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        if env.get(var):
            return _profile(env[var], var, env)
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    found = _find_profile("default", env, need_credentials=True)
    if found:
        return f"profile 'default' in {found}"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return "container credentials (AWS_CONTAINER_CREDENTIALS_*)"
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return "none found"
    return "none found here (boto3 would ask the EC2 instance metadata service)"


def _profile(name: str, origin: str, env: Mapping[str, str]) -> str:
    found = _find_profile(name, env)
    if found:
        return f"profile '{name}' ({origin}) in {found}"
    return f"profile '{name}' ({origin}), which is not defined in {_paths_text(env)}"


def _paths(env: Mapping[str, str]) -> tuple[str, str]:
    home = os.path.expanduser
    return (
        home(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"),
        home(env.get("AWS_CONFIG_FILE") or "~/.aws/config"),
    )


def _paths_text(env: Mapping[str, str]) -> str:
    return " or ".join(_short(p) for p in _paths(env))


#: Option names (never values) that give a profile credentials of some kind.
_CREDENTIAL_KEYS = {
    "aws_access_key_id", "role_arn", "credential_process", "credential_source",
    "sso_session", "sso_start_url", "web_identity_token_file", "login_session",
}  # fmt: skip


def _find_profile(name: str, env: Mapping[str, str], need_credentials: bool = False) -> str | None:
    """The file(s) that define profile `name`: `[name]` in the credentials file,
    `[profile name]` (or `[default]`) in the config file."""
    creds, conf = _paths(env)
    where = []
    sections = _sections(creds)
    if name in sections and (not need_credentials or sections[name] & _CREDENTIAL_KEYS):
        where.append(_short(creds))
    sections = _sections(conf)
    for section in (f"profile {name}", "default" if name == "default" else None):
        if section in sections and (not need_credentials or sections[section] & _CREDENTIAL_KEYS):
            where.append(_short(conf))
            break
    return " and ".join(where) or None


def _sections(path: str) -> dict[str | None, set[str]]:
    """Section name -> its option names (lowercase); values are never looked at."""
    parser = configparser.RawConfigParser(default_section="\0none")
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return {}
    return {s.strip(): {k.lower() for k in parser.options(s)} for s in parser.sections()}


def _short(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path
