"""`mappings init --live`, the pure part: write a commented mapping file from a site description.

Fields are found by id or display name (`vocabulary.JIRA_FIELDS` / `SERVICENOW_FIELDS`) and given
the converter their kind needs; value maps list every allowed option, placed through
`vocabulary.VALUES` or because the option spells a connector value; an option it cannot place
is a `# TODO` line (never a guess). Jira statuses map by name where the status category agrees,
and each action takes the transition into its status that is offered from the most statuses
the worker uses it from. The text loads with `load_mapping` and passes `check_site` on the site
it came from, apart from the TODO lines it names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from connector.core.mapping.converters import CONVERTERS
from connector.core.mapping.site import Site, SiteField, SiteTransition
from connector.core.mapping.site_check import ACTION_FROM, FITS
from connector.core.mapping.site_init_sn import q, sn_actions, sn_approvals, sn_rules
from connector.core.mapping.targets import TARGETS, Target
from connector.core.mapping.vocabulary import (
    ACTION_TO,
    DONE_STATUSES,
    JIRA_FIELDS,
    JIRA_KINDS,
    OPTIONAL_MOVES,
    RESOLUTIONS,
    SERVICENOW_FALLBACKS,
    SERVICENOW_FIELDS,
    STATUSES,
    VALUES,
    normal,
)
from connector.core.model import Status


@dataclass
class Rendered:
    """The mapping text and how many `# TODO` lines in it need the admin."""

    text: str
    todos: list[str] = field(default_factory=list)


def render_mapping(site: Site, *, by_name: bool = True) -> Rendered:
    """The mapping file for `site`; `by_name` names unique Jira custom fields by display name."""
    out = Rendered("")
    lines = [*_header(site), *_scope(site)]
    wants = JIRA_FIELDS if site.system == "jira" else SERVICENOW_FIELDS
    for attr, candidates in wants.items():
        lines += _field(site, attr, candidates, out, by_name=by_name)
    if site.system == "servicenow":
        lines += sn_approvals()
    statuses = _status_map(site)
    lines += _status_section(site, statuses, out)
    if site.system == "jira":
        lines += _jira_actions(site, statuses, out)
    else:
        lines += sn_actions(site, out.todos)
    out.text = "\n".join(lines).rstrip() + "\n"
    return out


def _header(site: Site) -> list[str]:
    where = f" ({site.source})" if site.source else ""
    return [
        f"# Field mapping written by `change-connector mappings init --live`{where}.",
        "# Every value below was read from the site; lines marked TODO need a decision.",
        "# Check it with: change-connector mappings check --live CONFIG",
        "",
        f"system = {q(site.system)}",
        "",
    ]


def _scope(site: Site) -> list[str]:
    if site.system == "jira":
        projects = ", ".join(q(p) for p in site.projects)
        types = ", ".join(q(t) for t in site.issue_types)
        return ["[scope]", f"projects = [{projects}]", f"issue_types = [{types}]", ""]
    return [
        "[scope]",
        f"table = {q(site.table or 'change_request')}",
        'approvals_table = "sysapproval_approver"',
        "",
    ]


# ---- fields --------------------------------------------------------------------------------


def _find(
    site: Site, attr: str, candidates: tuple[str, ...], target: Target
) -> tuple[SiteField | None, str | None, list[SiteField]]:
    """The first candidate field (by id, then display name) that a converter can read into the
    attribute, then the only field of the attribute's own type (`JIRA_KINDS`): (field,
    converter), plus the candidates found whose type does not fit."""
    unfit: list[SiteField] = []
    for candidate in candidates:
        for found in [f] if (f := site.field(candidate)) is not None else site.named(candidate):
            converter = converter_for(found, target, system=site.system)
            if converter is not None:
                return found, converter, unfit
            unfit.append(found)
    if site.system == "jira":
        typed = [f for f in site.fields if f.kind in JIRA_KINDS.get(attr, ())]
        if len(typed) == 1:
            return typed[0], converter_for(typed[0], target, system=site.system), unfit
    return None, None, unfit


def converter_for(site_field: SiteField, target: Target, *, system: str) -> str | None:
    """The converter that reads this field into this attribute, or None when none fits."""
    kind, wanted = site_field.kind, target.kind
    # ServiceNow: a string or integer column with a choice list is a choice.
    choice = kind in ("option", "choice", "resolution", "priority") or (
        kind in ("integer", "string") and site_field.options is not None
    )
    jira_text = system == "jira" and (
        site_field.custom.endswith(":textarea") or site_field.id in _RICH
    )
    if choice:
        names = ["boolean"] if wanted == "bool" else ["option"]
    elif kind == "string" and jira_text:
        names = ["rich"]
    elif kind in ("reference", "glide_list"):
        names = ["reference"] if wanted == "person" else ["cmdb-ci", "display"]
        names = [n for n in names if n != "cmdb-ci" or site_field.reference.startswith("cmdb_ci")]
    elif kind == "array:string" and site_field.id == "labels":
        names = ["labels"]
    else:
        names = [n for n in _BY_KIND if kind in FITS[n]]
    if target.many and kind == "string":
        names = ["list"]
    for name in names:
        if wanted in CONVERTERS[name].targets and kind in FITS[name]:
            return name
    return None


_RICH = ("description", "environment")
# Converters in the order a kind prefers them.
_BY_KIND = (
    "number",
    "text",
    "boolean",
    "datetime",
    "user",
    "reference",
    "multi-option",
    "components",
    "versions",
    "links",
    "sd-approvals",
    "list",
)


def _field(
    site: Site, attr: str, candidates: tuple[str, ...], out: Rendered, *, by_name: bool
) -> list[str]:
    target = TARGETS[attr]
    head = f"[fields.{attr}]"
    found, converter, unfit = _find(site, attr, candidates, target)
    if found is None or converter is None:
        if attr in ("created", "updated"):
            out.todos.append(f"fields.{attr}")
            todo = f"source = {q('TODO')}  # TODO: no field for {attr}"
            return [head, todo, 'converter = "datetime"', ""]
        why = "; ".join(f"{f.describe()} is of type {f.kind}: no converter fits" for f in unfit)
        return [f"# {head}  ({why or 'no field named ' + ' or '.join(candidates)})", ""]
    source = _source_line(site, found, by_name=by_name)
    then = [c for c in SERVICENOW_FALLBACKS.get(attr, ()) if site.system == "servicenow"]
    then = [c for c in then if (f := site.field(c)) is not None and f.kind == found.kind]
    if then:
        listed = ", ".join(q(c) for c in (found.id, *then))
        source = f"source = [{listed}]  # the first one with a value"
    lines = [head, source, f"converter = {q(converter)}"]
    if target.enum is not None or target.kind == "bool":
        lines += _value_map(attr, found, target, out)
    return [*lines, ""]


def _source_line(site: Site, found: SiteField, *, by_name: bool) -> str:
    about = f"  # {found.name}" if found.name != found.id else ""
    unique = len(site.named(found.name)) == 1
    if by_name and site.system == "jira" and found.id.startswith("customfield_") and unique:
        return f"source = {{ name = {q(found.name)} }}  # {found.id} on this site"
    note = "" if unique else " (not the only field with this name)"
    return f"source = {q(found.id)}{about}{note}"


def place(attr: str, option: str, label: str, target: Target) -> str | bool | None:
    """The connector value an option stands for, or None when the vocabulary does not say."""
    known = VALUES.get(attr, {})
    for word in (normal(option), normal(label)):
        if word in known:
            return known[word]
        if target.enum is not None:
            for member in target.enum:
                if word == normal(str(member.value)):
                    return str(member.value)
    return None


def _value_map(attr: str, found: SiteField, target: Target, out: Rendered) -> list[str]:
    if found.options is None:
        if target.kind == "bool":
            return []
        if target.enum is not None and not target.many and found.kind == "string":
            return _free_text_map(attr, target)
        out.todos.append(f"fields.{attr}.map")
        return [f"# TODO: the site did not show the options of {found.name}; add a map"]
    lines = ["", f"[fields.{attr}.map]"]
    for option in found.options:
        label = found.label_of(option)
        value = place(attr, option, label, target)
        shown = f"  # {label}" if label != option else ""
        if value is None:
            out.todos.append(f"fields.{attr}.map.{option}")
            lines.append(f"# TODO {q(option)} = ...{shown}  (expected {target.describe()})")
        else:
            literal = q(value) if isinstance(value, str) else str(value).lower()
            lines.append(f"{q(option)} = {literal}{shown}")
    return lines


def _free_text_map(attr: str, target: Target) -> list[str]:
    """A free-text column read as an enum: the words that mean a value, anything else ignored."""
    assert target.enum is not None
    words: dict[str, str | bool] = {str(m.value): str(m.value) for m in target.enum}
    words.update(VALUES.get(attr, {}))
    lines = ["", f"[fields.{attr}.map]", "# free text: these words map (any case), the rest: none"]
    lines += [f"{q(word)} = {q(str(value))}" for word, value in words.items()]
    return [*lines, '"*" = ""']


# ---- status --------------------------------------------------------------------------------


def _status_map(site: Site) -> dict[str, Status | None]:
    """Native status (Jira name, ServiceNow state value) -> connector status, None if unknown."""
    if site.system == "jira":
        out: dict[str, Status | None] = {}
        for status in site.statuses:
            placed = STATUSES.get(normal(status.name))
            disagree = (placed in DONE_STATUSES) != (status.category == "done")
            if placed is not None and status.category and disagree:
                placed = None  # the name says one thing, the category another
            out[status.name] = placed
        return out
    state = site.field("state")
    if state is None or not state.options:
        return {}
    return {v: STATUSES.get(normal(state.label_of(v))) for v in state.options}


def _status_section(site: Site, statuses: dict[str, Status | None], out: Rendered) -> list[str]:
    source = "status" if site.system == "jira" else "state"
    lines = ["[status]", f"source = {q(source)}", ""]
    if site.system == "servicenow":
        lines += sn_rules(site)
    lines.append("[status.map]")
    state = site.field("state")
    for native, status in statuses.items():
        label = state.label_of(native) if site.system == "servicenow" and state else native
        about = f"  # {label}" if label != native else ""
        category = next((s.category for s in site.statuses if s.name == native), "")
        if status is None:
            out.todos.append(f"status.map.{native}")
            hint = f" (category {category})" if category else ""
            lines.append(f"# TODO {q(native)} = ...{about}{hint}")
        else:
            lines.append(f"{q(native)} = {q(status.value)}{about}")
    return [*lines, ""]


# ---- actions -------------------------------------------------------------------------------


def _jira_actions(site: Site, statuses: dict[str, Status | None], out: Rendered) -> list[str]:
    lines: list[str] = []
    for action, target in ACTION_TO.items():
        best = _best_transition(site, statuses, action, target)
        if action == "drift" and best is not None and not _offered(site, statuses, action, best):
            best = None  # a way back that the approved statuses do not offer is no way back
        head = f"[actions.{action}]"
        if best is None:
            if action in OPTIONAL_MOVES:
                back = " offered from approved or scheduled" if action == "drift" else ""
                lines += [f"# {head}  (no transition into a {target.value} status{back})", ""]
                continue
            out.todos.append(f"actions.{action}")
            lines += [head, f"transition = {q('TODO')}  # TODO: no transition into {target.value}"]
            lines.append("")
            continue
        lines += [head, f"transition = {q(best.name)}  # to {best.to}"]
        lines += _resolution_line(action, best, out)
        lines.append("")
    return lines


def _best_transition(
    site: Site, statuses: dict[str, Status | None], action: str, target: Status
) -> SiteTransition | None:
    into = [t for t in site.transitions if statuses.get(t.to) is target]
    froms = [n for n, s in statuses.items() if s in ACTION_FROM[action] and site.was_sampled(n)]

    def reach(t: SiteTransition) -> tuple[int, bool, str]:
        return (sum(t.offered_from(s) for s in froms), not t.is_global, t.name)

    return max(into, key=reach, default=None)


def _offered(
    site: Site, statuses: dict[str, Status | None], action: str, transition: SiteTransition
) -> bool:
    froms = [n for n, s in statuses.items() if s in ACTION_FROM[action] and site.was_sampled(n)]
    return any(transition.offered_from(s) for s in froms)


def _resolution_line(action: str, transition: SiteTransition, out: Rendered) -> Iterator[str]:
    if not transition.needs_resolution:
        return
    allowed = {normal(r): r for r in transition.resolutions}
    for word in RESOLUTIONS.get(action, ()):
        if word in allowed:
            yield f"fields = {{ resolution = {{ name = {q(allowed[word])} }} }}"
            return
    out.todos.append(f"actions.{action}.fields")
    shown = ", ".join(transition.resolutions) or "not shown"
    yield f"# TODO fields = {{ resolution = {{ name = ... }} }}  (site has: {shown})"
