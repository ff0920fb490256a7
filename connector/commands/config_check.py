"""`check-config`: load and check everything the worker will use, every problem in one run.

`load_config` has already validated the file's shape, the secrets and the URLs; this adds what
needs the file system or the network: each source's mapping file (loaded through the mapping
loader, converters included) and that it is a mapping of the source's system, the CA bundles
(readable, PEM certificates; `[deploy.gitlab]`'s too, whose token must be set), the
release-notes templates directory, the audit anchor file's directory, and the store URL (one
connection, nothing created or migrated). Each problem names the file and key, or the
environment variable that set the value.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from connector.core.errors import ConfigError, MappingError
from connector.core.mapping import load_mapping
from connector.settings import LoadedConfig, SettingsError, SourceSettings, load_config
from connector.store import Store
from connector.store.engine import probe

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def problems(loaded: LoadedConfig) -> list[str]:
    """One line per problem, in config order."""
    settings = loaded.settings
    out: list[str] = []
    for name, source in settings.sources.items():
        out += _source_problems(loaded, name, source)
    for i, channel in enumerate(settings.notify):
        if channel.ca_bundle is not None and (found := ca_bundle_problem(channel.ca_bundle)):
            out.append(f"{loaded.where('notify', str(i), 'ca_bundle')}: {found}")
    gitlab = settings.deploy.gitlab
    if gitlab is not None:
        if gitlab.token is None:
            out.append(f"{loaded.where('deploy', 'gitlab', 'token')}: not set")
        if gitlab.ca_bundle is not None and (found := ca_bundle_problem(gitlab.ca_bundle)):
            out.append(f"{loaded.where('deploy', 'gitlab', 'ca_bundle')}: {found}")
    templates = settings.release_notes.templates_dir
    if templates is not None and not templates.is_dir():
        out.append(
            f"{loaded.where('release_notes', 'templates_dir')}: {templates} is not a directory"
        )
    anchors = settings.audit.anchor_file
    if anchors is not None:
        if anchors.exists() and not anchors.is_file():
            out.append(f"{loaded.where('audit', 'anchor_file')}: {anchors} is not a file")
        elif not anchors.parent.is_dir():
            out.append(
                f"{loaded.where('audit', 'anchor_file')}: directory {anchors.parent} does not exist"
            )
    out += _github_problems(loaded)
    if settings.store_url is not None:
        found = probe(settings.store_url.get_secret_value())
        if found:
            out.append(f"{loaded.where('store_url')}: {found}")
    else:
        found = probe(Store.default_url(settings.data_dir))
        if found:
            out.append(f"{loaded.where('data_dir')}: {found}")
    return out


def check_config_file(path: Path | None) -> str:
    """`check-config`: the "ok" line, or one `ConfigError` naming every problem."""
    try:
        loaded = load_config(path)
    except SettingsError as exc:  # the files of what did load are checked in the same run
        more = problems(exc.partial) if exc.partial is not None else []
        raise ConfigError("; ".join([exc.message, *more])) from None
    check(loaded)
    sources = loaded.settings.sources
    names = ", ".join(f"{n} ({s.kind})" for n, s in sources.items()) or "none"
    return f"ok: sources: {names}"


def _github_problems(loaded: LoadedConfig) -> list[str]:
    """The GitHub App's private key is a readable PEM key (its text is never shown)."""
    from connector.systems.github import read_private_key

    github = loaded.settings.deploy.github
    if github is None:
        return []
    out: list[str] = []
    text = github.private_key.get_secret_value() if github.private_key else None
    try:
        read_private_key(path=github.private_key_path, text=text)
    except ConfigError as exc:
        out.append(exc.message)
    if github.ca_bundle is not None and (found := ca_bundle_problem(github.ca_bundle)):
        out.append(f"{loaded.where('deploy', 'github', 'ca_bundle')}: {found}")
    return out


def check(loaded: LoadedConfig) -> None:
    """Raise one `ConfigError` listing every problem; return quietly when there are none."""
    found = problems(loaded)
    if found:
        raise ConfigError("; ".join(found))


def _source_problems(loaded: LoadedConfig, name: str, source: SourceSettings) -> list[str]:
    out: list[str] = []
    try:
        mapping = load_mapping(source.mapping)
    except MappingError as exc:
        out.append(f"{loaded.where('sources', name, 'mapping')}: {exc.message}")
    else:
        if mapping.system != source.kind:
            out.append(
                f"{loaded.where('sources', name, 'mapping')}: {source.mapping} is a "
                f"{mapping.system} mapping, but the source is kind = {source.kind!r}"
            )
    if source.ca_bundle is not None:
        found = ca_bundle_problem(source.ca_bundle)
        if found:
            out.append(f"{loaded.where('sources', name, 'ca_bundle')}: {found}")
    return out


def ca_bundle_problem(path: Path) -> str | None:
    """Why `path` is not a usable CA bundle (PEM certificates), or None."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory, not a PEM file"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    if PEM_CERTIFICATE.encode() not in text:
        return f"{path}: not a PEM file with certificates ({PEM_CERTIFICATE} ...)"
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        return f"{path}: not a valid PEM certificate bundle ({' '.join(str(exc).split())})"
    return None
