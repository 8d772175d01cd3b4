"""The `/backup` and `/restore` slash commands: text in, a typed command or a UsageError out.

Pure: no I/O. ``parse_command`` never raises; a mistake comes back as a
:class:`~bot.errors.UsageError` whose ``problem`` is one sentence saying what was wrong and
whose ``usage`` is the correct usage line of that subcommand (or the overview).

Grammar, forgiving about spelling and exact about meaning:

* words are separated by any whitespace; subcommand words, option keys, products and
  booleans are case-insensitive, and ``_`` in a key means ``-`` (``personal_spaces=yes``);
* positional ids come first, then ``key=value`` options in any order, with no spaces around
  ``=`` and no quotes;
* ids are plain tokens (ASCII letters, digits, ``- _ . :``, at most 128), so Slack's
  mention and link escapes such as ``<@U123|name>`` are refused rather than passed on;
* booleans are yes/no, true/false, on/off or 1/0; products are jira or confluence;
* a site (``site=``, ``to=``) is an alias from ATLASSIAN_SITES or a raw cloud id.

Slack sends ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and ``&gt;``; the text is unescaped
before parsing so an error shows what the user typed, and every piece of user text in a
problem is escaped again and put in backticks. Usage lines and examples contain none of
``& < >`` (placeholders are upper-case words), so ``UsageError.user_message`` is safe mrkdwn.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, TypeAlias

from bot.atlassian.models import Product
from bot.config import SiteDirectory
from bot.errors import UsageError

__all__ = [
    "ALL_COMMANDS",
    "ATLASSIAN_STORAGE",
    "BACKUP_OVERVIEW",
    "RESTORE_OVERVIEW",
    "AtlassianStorage",
    "BackupList",
    "BackupRun",
    "BackupShow",
    "Export",
    "ExportStatus",
    "Exports",
    "Help",
    "Import",
    "ImportStatus",
    "ParsedCommand",
    "PolicyCreate",
    "PolicyList",
    "PolicyShow",
    "PolicyUpdate",
    "Regions",
    "RestoreList",
    "RestoreModal",
    "RestoreReport",
    "RestoreShow",
    "RestoreStart",
    "Sites",
    "SlashCommand",
    "StorageCreate",
    "StorageList",
    "StorageShow",
    "WhoAmI",
    "escape_mrkdwn",
    "help_text",
    "parse_command",
]


def escape_mrkdwn(text: str) -> str:
    """Escape text for Slack mrkdwn so it cannot form mentions, links or channel pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AtlassianStorage(enum.Enum):
    """`storage=atlassian`: keep backups in Atlassian's storage (the API's storageId null)."""

    ATLASSIAN = "atlassian"


ATLASSIAN_STORAGE: Final = AtlassianStorage.ATLASSIAN

BACKUP_OVERVIEW: Final = (
    "/backup help | whoami | sites | regions | storage create|list|show"
    " | policy create|list|show|update | run | list | show | export | exports"
    " | export-status | import | import-status"
)
RESTORE_OVERVIEW: Final = "/restore [start | list | show | report | help]"


class SlashCommand:
    """What every parsed command says about itself, for handlers and the help text."""

    __slots__ = ()

    changes_things: ClassVar[bool]
    """True when the command creates, changes or starts work (only bot admins may)."""
    usage: ClassVar[str]
    example: ClassVar[str]
    summary: ClassVar[str]


@dataclass(frozen=True, slots=True)
class Help(SlashCommand):
    """Show the help; ``topic`` such as ``/backup policy`` narrows it (see :func:`help_text`)."""

    topic: str | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup help [COMMAND]"
    example: ClassVar[str] = "/backup help policy"
    summary: ClassVar[str] = "show this help, or the help of one command"


@dataclass(frozen=True, slots=True)
class WhoAmI(SlashCommand):
    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup whoami"
    example: ClassVar[str] = "/backup whoami"
    summary: ClassVar[str] = "your role: admin, approver or viewer"


@dataclass(frozen=True, slots=True)
class Sites(SlashCommand):
    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup sites"
    example: ClassVar[str] = "/backup sites"
    summary: ClassVar[str] = "the site aliases configured in ATLASSIAN_SITES"


@dataclass(frozen=True, slots=True)
class Regions(SlashCommand):
    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup regions"
    example: ClassVar[str] = "/backup regions"
    summary: ClassVar[str] = "the regions where your own S3 storage can be"


@dataclass(frozen=True, slots=True)
class StorageCreate(SlashCommand):
    name: str
    region: str
    prefix: str
    role: str
    tag: str
    cloud_id: str

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = (
        "/backup storage create name=NAME region=REGION prefix=PREFIX role=ROLE_ARN"
        " tag=PRINCIPAL_TAG site=SITE"
    )
    example: ClassVar[str] = (
        "/backup storage create name=acme-s3 region=us-east-1 prefix=atlassian/acme"
        " role=arn:aws:iam::123456789012:role/atlassian-backup tag=acme-backup site=acme"
    )
    summary: ClassVar[str] = "register your own S3 bucket as backup storage"


@dataclass(frozen=True, slots=True)
class StorageList(SlashCommand):
    cloud_id: str | None = None
    product: Product | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup storage list [site=SITE] [product=jira|confluence]"
    example: ClassVar[str] = "/backup storage list site=acme"
    summary: ClassVar[str] = "list the registered storages"


@dataclass(frozen=True, slots=True)
class StorageShow(SlashCommand):
    storage_id: str

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup storage show STORAGE_ID"
    example: ClassVar[str] = "/backup storage show stg-123"
    summary: ClassVar[str] = "show one storage"


@dataclass(frozen=True, slots=True)
class PolicyCreate(SlashCommand):
    """``storage_id`` None means Atlassian's storage; personal spaces exist only in Confluence."""

    product: Product
    cloud_id: str
    include_attachments: bool = True
    include_personal_spaces: bool | None = None
    storage_id: str | None = None

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = (
        "/backup policy create jira|confluence site=SITE [attachments=yes|no]"
        " [personal-spaces=yes|no] [storage=STORAGE_ID|atlassian]"
    )
    example: ClassVar[str] = "/backup policy create confluence site=acme personal-spaces=no"
    summary: ClassVar[str] = "create a backup policy for a site's Jira or Confluence"


@dataclass(frozen=True, slots=True)
class PolicyList(SlashCommand):
    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup policy list"
    example: ClassVar[str] = "/backup policy list"
    summary: ClassVar[str] = "list the backup policies"


@dataclass(frozen=True, slots=True)
class PolicyShow(SlashCommand):
    policy_id: str

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup policy show POLICY_ID"
    example: ClassVar[str] = "/backup policy show pol-123"
    summary: ClassVar[str] = "show one backup policy"


@dataclass(frozen=True, slots=True)
class PolicyUpdate(SlashCommand):
    """None means "leave as it is"; ``storage_id`` ATLASSIAN_STORAGE moves back to Atlassian's."""

    policy_id: str
    include_attachments: bool | None = None
    include_personal_spaces: bool | None = None
    storage_id: str | AtlassianStorage | None = None

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = (
        "/backup policy update POLICY_ID [attachments=yes|no] [personal-spaces=yes|no]"
        " [storage=STORAGE_ID|atlassian]"
    )
    example: ClassVar[str] = "/backup policy update pol-123 attachments=no storage=atlassian"
    summary: ClassVar[str] = (
        "change a policy; storage=atlassian moves its backups back to Atlassian's storage"
    )


@dataclass(frozen=True, slots=True)
class BackupRun(SlashCommand):
    policy_id: str

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = "/backup run POLICY_ID"
    example: ClassVar[str] = "/backup run pol-123"
    summary: ClassVar[str] = "start a backup now"


@dataclass(frozen=True, slots=True)
class BackupList(SlashCommand):
    policy_id: str

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup list POLICY_ID"
    example: ClassVar[str] = "/backup list pol-123"
    summary: ClassVar[str] = "list a policy's backups"


@dataclass(frozen=True, slots=True)
class BackupShow(SlashCommand):
    backup_id: str

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup show BACKUP_ID"
    example: ClassVar[str] = "/backup show bkp-456"
    summary: ClassVar[str] = "show one backup"


@dataclass(frozen=True, slots=True)
class Export(SlashCommand):
    backup_ids: tuple[str, ...]

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = "/backup export BACKUP_ID [BACKUP_ID ...]"
    example: ClassVar[str] = "/backup export bkp-456 bkp-457"
    summary: ClassVar[str] = "copy backups to their policy's own storage"


@dataclass(frozen=True, slots=True)
class Exports(SlashCommand):
    product: Product | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup exports [product=jira|confluence]"
    example: ClassVar[str] = "/backup exports product=jira"
    summary: ClassVar[str] = "list the exports"


@dataclass(frozen=True, slots=True)
class ExportStatus(SlashCommand):
    export_id: str
    cloud_id: str | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup export-status EXPORT_ID [site=SITE]"
    example: ClassVar[str] = "/backup export-status exp-789 site=acme"
    summary: ClassVar[str] = "show how an export is going"


@dataclass(frozen=True, slots=True)
class Import(SlashCommand):
    backup_ids: tuple[str, ...]

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = "/backup import BACKUP_ID [BACKUP_ID ...]"
    example: ClassVar[str] = "/backup import bkp-456"
    summary: ClassVar[str] = "bring backups back from your own storage so they can be restored"


@dataclass(frozen=True, slots=True)
class ImportStatus(SlashCommand):
    import_id: str
    cloud_id: str | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/backup import-status IMPORT_ID [site=SITE]"
    example: ClassVar[str] = "/backup import-status imp-321"
    summary: ClassVar[str] = "show how an import is going"


@dataclass(frozen=True, slots=True)
class RestoreStart(SlashCommand):
    """``dest_label`` is the alias for the destination, or its cloud id when it has none.

    ``include_attachments`` None means the user did not say, so the backup decides.
    """

    backup_id: str
    dest_cloud_id: str
    dest_label: str
    include_attachments: bool | None = None
    include_users_and_groups: bool = True

    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = "/restore start BACKUP_ID to=SITE [attachments=yes|no] [users=yes|no]"
    example: ClassVar[str] = "/restore start bkp-456 to=acme-sandbox users=no"
    summary: ClassVar[str] = "restore a backup onto a site, once an approver confirms"


@dataclass(frozen=True, slots=True)
class RestoreModal(SlashCommand):
    changes_things: ClassVar[bool] = True
    usage: ClassVar[str] = "/restore"
    example: ClassVar[str] = "/restore"
    summary: ClassVar[str] = "open a form: product, backup, destination and options"


@dataclass(frozen=True, slots=True)
class RestoreList(SlashCommand):
    cloud_id: str | None = None
    product: Product | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/restore list [site=SITE] [product=jira|confluence]"
    example: ClassVar[str] = "/restore list site=acme-sandbox"
    summary: ClassVar[str] = "list the restores"


@dataclass(frozen=True, slots=True)
class RestoreShow(SlashCommand):
    restore_id: str

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/restore show RESTORE_ID"
    example: ClassVar[str] = "/restore show rst-654"
    summary: ClassVar[str] = "show one restore"


@dataclass(frozen=True, slots=True)
class RestoreReport(SlashCommand):
    """``ref`` is a restore id or a migration id; the handler finds out which."""

    ref: str
    cloud_id: str | None = None

    changes_things: ClassVar[bool] = False
    usage: ClassVar[str] = "/restore report RESTORE_OR_MIGRATION_ID [site=SITE]"
    example: ClassVar[str] = "/restore report rst-654 site=acme-sandbox"
    summary: ClassVar[str] = "link to the report of a finished restore"


ParsedCommand: TypeAlias = (
    Help
    | WhoAmI
    | Sites
    | Regions
    | StorageCreate
    | StorageList
    | StorageShow
    | PolicyCreate
    | PolicyList
    | PolicyShow
    | PolicyUpdate
    | BackupRun
    | BackupList
    | BackupShow
    | Export
    | Exports
    | ExportStatus
    | Import
    | ImportStatus
    | RestoreStart
    | RestoreModal
    | RestoreList
    | RestoreShow
    | RestoreReport
)

# In the order the help lists them.
ALL_COMMANDS: Final[tuple[type[SlashCommand], ...]] = (
    Help,
    WhoAmI,
    Sites,
    Regions,
    StorageCreate,
    StorageList,
    StorageShow,
    PolicyCreate,
    PolicyList,
    PolicyShow,
    PolicyUpdate,
    BackupRun,
    BackupList,
    BackupShow,
    Export,
    Exports,
    ExportStatus,
    Import,
    ImportStatus,
    RestoreModal,
    RestoreStart,
    RestoreList,
    RestoreShow,
    RestoreReport,
)


# --- parsing ---------------------------------------------------------------------------

_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
# Storage settings carry ARNs (`arn:aws:iam::1:role/x`), S3 prefixes and AWS tags, so they
# allow a few more characters than ids, but still nothing that mrkdwn or Slack would act on.
_SETTING_PATTERN = re.compile(r"[A-Za-z0-9_.:/@+=,-]{1,256}")
_ECHO_LIMIT = 60

_BOOLEANS: Final[Mapping[str, bool]] = {
    "yes": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "false": False,
    "off": False,
    "0": False,
}
_PRODUCTS: Final[Mapping[str, Product]] = {"jira": Product.JIRA, "confluence": Product.CONFLUENCE}


def _shown(text: str) -> str:
    """User text made safe to quote in a one-line mrkdwn message: clipped, escaped, in backticks."""
    clipped = text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"
    # A backtick would close the code span early and a newline would break the sentence.
    printable = "".join(
        ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in clipped
    ).replace("`", "'")
    return f"`{escape_mrkdwn(printable)}`"


def _unescape_slack(text: str) -> str:
    # `&amp;` last, so a user's literal `&lt;` (sent as `&amp;lt;`) stays `&lt;`.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _word(token: str) -> str:
    return token.lower().replace("_", "-")


def _listing(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


@dataclass
class _Arguments:
    """A subcommand's words after its name, split into positionals and options."""

    usage: str
    positionals: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def fail(self, problem: str) -> UsageError:
        return UsageError(problem, self.usage)

    def exact(self, *names: str) -> list[str]:
        """The positionals, exactly one per name (names such as "policy id" are for errors)."""
        if len(self.positionals) < len(names):
            raise self.fail(f"Missing the {names[len(self.positionals)]}.")
        if len(self.positionals) > len(names):
            raise self.fail(f"Unexpected argument {_shown(self.positionals[len(names)])}.")
        return self.positionals

    def identifier(self, value: str, what: str) -> str:
        if not _ID_PATTERN.fullmatch(value):
            raise self.fail(
                f"{_shown(value)} is not a valid {what}: ids are letters, digits and - _ . :"
                " (at most 128)."
            )
        return value

    def setting(self, key: str) -> str:
        value = self.options[key]
        if not _SETTING_PATTERN.fullmatch(value):
            raise self.fail(
                f"Option `{key}` cannot be {_shown(value)}: use letters, digits and"
                " - _ . : / @ + = , (at most 256)."
            )
        return value

    def boolean(self, key: str) -> bool | None:
        if key not in self.options:
            return None
        value = self.options[key]
        if value.lower() not in _BOOLEANS:
            raise self.fail(
                f"Option `{key}` must be yes or no (or true/false, on/off, 1/0),"
                f" not {_shown(value)}."
            )
        return _BOOLEANS[value.lower()]

    def product(self, value: str, what: str) -> Product:
        if value.lower() not in _PRODUCTS:
            raise self.fail(f"{what} must be jira or confluence, not {_shown(value)}.")
        return _PRODUCTS[value.lower()]

    def product_option(self) -> Product | None:
        if "product" not in self.options:
            return None
        return self.product(self.options["product"], "Option `product`")

    def site(self, key: str, sites: SiteDirectory) -> str | None:
        if key not in self.options:
            return None
        return self.required_site(key, sites)

    def required_site(self, key: str, sites: SiteDirectory) -> str:
        self.require(key)
        value = self.options[key]
        cloud_id = sites.resolve(value)
        if cloud_id is None:
            known = ", ".join(sorted(sites.aliases)) or "none"
            raise self.fail(
                f"Unknown site {_shown(value)}. Known sites: {known}."
                " Use an alias from ATLASSIAN_SITES or a cloud id."
            )
        return cloud_id

    def require(self, *keys: str) -> None:
        missing = [f"{key}=" for key in keys if key not in self.options]
        if len(missing) == 1:
            raise self.fail(f"Missing option {_listing(missing)}.")
        if missing:
            raise self.fail(f"Missing options {_listing(missing)}.")


def _spaced_equals(tokens: Sequence[str]) -> str | None:
    """The words of a `key = value` typed with spaces, which would otherwise read as ids."""
    for index, token in enumerate(tokens):
        if token.startswith("="):
            return " ".join(tokens[max(index - 1, 0) : index + 2 if token == "=" else index + 1])
        if token.endswith("=") and index + 1 < len(tokens) and "=" not in tokens[index + 1]:
            return " ".join(tokens[index : index + 2])
    return None


def _arguments(tokens: Sequence[str], usage: str, allowed: Collection[str]) -> _Arguments:
    """Split tokens into positionals then options, refusing anything out of shape."""
    args = _Arguments(usage)
    spaced = _spaced_equals(tokens)
    if spaced is not None:
        raise args.fail(f"{_shown(spaced)} has spaces around `=`: write `key=value` with none.")
    for token in tokens:
        key, equals, value = token.partition("=")
        if not equals:
            if args.options:
                raise args.fail(
                    f"{_shown(token)} comes after an option: put ids first, then"
                    " `key=value` options."
                )
            args.positionals.append(token)
            continue
        key = _word(key)
        if not value:
            raise args.fail(f"Option {_shown(key)} has no value: give one after `=`.")
        if key not in allowed:
            valid = (
                f"valid options are {_listing(sorted(allowed))}"
                if allowed
                else "this command takes no options"
            )
            raise args.fail(f"Unknown option {_shown(key)}: {valid}.")
        if key in args.options:
            raise args.fail(f"Option `{key}` is given twice.")
        args.options[key] = value
    return args


def _several_ids(args: _Arguments, what: str) -> tuple[str, ...]:
    if not args.positionals:
        raise args.fail(f"Missing the {what}: give one or more.")
    seen: set[str] = set()
    for value in args.positionals:
        args.identifier(value, what)
        if value in seen:
            raise args.fail(f"The {what} {_shown(value)} is given twice.")
        seen.add(value)
    return tuple(args.positionals)


_Builder: TypeAlias = Callable[[Sequence[str], SiteDirectory], ParsedCommand]


def _without_arguments(command: type[WhoAmI | Sites | Regions | PolicyList]) -> _Builder:
    def build(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
        _arguments(tokens, command.usage, ()).exact()
        return command()

    return build


def _one_id(
    command: type[StorageShow | PolicyShow | BackupRun | BackupList | BackupShow | RestoreShow],
    what: str,
) -> _Builder:
    def build(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
        args = _arguments(tokens, command.usage, ())
        (value,) = args.exact(what)
        return command(args.identifier(value, what))

    return build


def _id_and_site(command: type[ExportStatus | ImportStatus | RestoreReport], what: str) -> _Builder:
    def build(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
        args = _arguments(tokens, command.usage, ("site",))
        (value,) = args.exact(what)
        return command(args.identifier(value, what), args.site("site", sites))

    return build


def _site_and_product(command: type[StorageList | RestoreList]) -> _Builder:
    def build(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
        args = _arguments(tokens, command.usage, ("site", "product"))
        args.exact()
        return command(args.site("site", sites), args.product_option())

    return build


def _several(command: type[Export | Import]) -> _Builder:
    def build(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
        return command(_several_ids(_arguments(tokens, command.usage, ()), "backup id"))

    return build


def _exports(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
    args = _arguments(tokens, Exports.usage, ("product",))
    args.exact()
    return Exports(args.product_option())


_STORAGE_SETTINGS = ("name", "region", "prefix", "role", "tag")


def _storage_create(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
    args = _arguments(tokens, StorageCreate.usage, (*_STORAGE_SETTINGS, "site"))
    args.exact()
    args.require(*_STORAGE_SETTINGS, "site")
    name, region, prefix, role, tag = (args.setting(key) for key in _STORAGE_SETTINGS)
    cloud_id = args.required_site("site", sites)
    return StorageCreate(name, region, prefix, role, tag, cloud_id)


def _storage_choice(args: _Arguments) -> str | AtlassianStorage | None:
    if "storage" not in args.options:
        return None
    value = args.options["storage"]
    if value.lower() == ATLASSIAN_STORAGE.value:
        return ATLASSIAN_STORAGE
    return args.identifier(value, "storage id")


_POLICY_OPTIONS = ("attachments", "personal-spaces", "storage")


def _policy_create(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
    args = _arguments(tokens, PolicyCreate.usage, ("site", *_POLICY_OPTIONS))
    (product_word,) = args.exact("product (jira or confluence)")
    product = args.product(product_word, "The product")
    cloud_id = args.required_site("site", sites)
    attachments = args.boolean("attachments")
    personal_spaces = args.boolean("personal-spaces")
    if personal_spaces is not None and product is not Product.CONFLUENCE:
        raise args.fail("Option `personal-spaces` applies only to Confluence policies.")
    storage = _storage_choice(args)
    return PolicyCreate(
        product=product,
        cloud_id=cloud_id,
        include_attachments=True if attachments is None else attachments,
        include_personal_spaces=personal_spaces,
        storage_id=None if storage is ATLASSIAN_STORAGE else storage,
    )


def _policy_update(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
    args = _arguments(tokens, PolicyUpdate.usage, _POLICY_OPTIONS)
    (policy_id,) = args.exact("policy id")
    args.identifier(policy_id, "policy id")
    if not args.options:
        raise args.fail(f"Say what to change: give at least one of {_listing(_POLICY_OPTIONS)}.")
    return PolicyUpdate(
        policy_id=policy_id,
        include_attachments=args.boolean("attachments"),
        include_personal_spaces=args.boolean("personal-spaces"),
        storage_id=_storage_choice(args),
    )


def _restore_start(tokens: Sequence[str], sites: SiteDirectory) -> ParsedCommand:
    args = _arguments(tokens, RestoreStart.usage, ("to", "attachments", "users"))
    (backup_id,) = args.exact("backup id")
    args.identifier(backup_id, "backup id")
    dest_cloud_id = args.required_site("to", sites)
    typed = args.options["to"].lower()
    dest_label = typed if typed in sites.aliases else sites.name(dest_cloud_id)
    users = args.boolean("users")
    return RestoreStart(
        backup_id=backup_id,
        dest_cloud_id=dest_cloud_id,
        dest_label=dest_label,
        include_attachments=args.boolean("attachments"),
        include_users_and_groups=True if users is None else users,
    )


@dataclass(frozen=True)
class _Group:
    """A subcommand with subcommands of its own, such as `storage` or `policy`."""

    name: str
    usage: str
    members: Mapping[str, _Builder]


_STORAGE = _Group(
    "storage",
    "/backup storage create|list|show",
    {
        "create": _storage_create,
        "list": _site_and_product(StorageList),
        "show": _one_id(StorageShow, "storage id"),
    },
)
_POLICY = _Group(
    "policy",
    "/backup policy create|list|show|update",
    {
        "create": _policy_create,
        "list": _without_arguments(PolicyList),
        "show": _one_id(PolicyShow, "policy id"),
        "update": _policy_update,
    },
)

_BACKUP_SUBCOMMANDS: Final[Mapping[str, _Builder | _Group]] = {
    "whoami": _without_arguments(WhoAmI),
    "sites": _without_arguments(Sites),
    "regions": _without_arguments(Regions),
    "storage": _STORAGE,
    "policy": _POLICY,
    "run": _one_id(BackupRun, "policy id"),
    "list": _one_id(BackupList, "policy id"),
    "show": _one_id(BackupShow, "backup id"),
    "export": _several(Export),
    "exports": _exports,
    "export-status": _id_and_site(ExportStatus, "export id"),
    "import": _several(Import),
    "import-status": _id_and_site(ImportStatus, "import id"),
}
_RESTORE_SUBCOMMANDS: Final[Mapping[str, _Builder | _Group]] = {
    "start": _restore_start,
    "list": _site_and_product(RestoreList),
    "show": _one_id(RestoreShow, "restore id"),
    "report": _id_and_site(RestoreReport, "restore or migration id"),
}
_SLASH_COMMANDS: Final[Mapping[str, tuple[Mapping[str, _Builder | _Group], str]]] = {
    "backup": (_BACKUP_SUBCOMMANDS, BACKUP_OVERVIEW),
    "restore": (_RESTORE_SUBCOMMANDS, RESTORE_OVERVIEW),
}


def parse_command(command: str, text: str, sites: SiteDirectory) -> ParsedCommand | UsageError:
    """Parse one slash command; a mistake is returned (never raised) as a UsageError.

    ``command`` is ``/backup`` or ``/restore`` (the slash is optional); ``text`` is what
    Slack sends after it, Slack-escaped or not.
    """
    slash = command.strip().lower().removeprefix("/")
    if slash not in _SLASH_COMMANDS:
        return UsageError(f"Unknown command {_shown('/' + slash)}.", Help.usage)
    subcommands, overview = _SLASH_COMMANDS[slash]
    tokens = _unescape_slack(text).split()
    try:
        if not tokens:
            return Help() if slash == "backup" else RestoreModal()
        first, rest = _word(tokens[0]), tokens[1:]
        if first == "help":
            return _help(slash, rest, overview)
        chosen = subcommands.get(first)
        if chosen is None:
            return UsageError(f"Unknown command {_shown(tokens[0])}.", overview)
        if isinstance(chosen, _Group):
            if not rest:
                raise UsageError(
                    f"`{chosen.name}` needs one of {_listing(list(chosen.members))}.",
                    chosen.usage,
                )
            member = chosen.members.get(_word(rest[0]))
            if member is None:
                raise UsageError(
                    f"Unknown command {_shown(chosen.name + ' ' + rest[0])}.", chosen.usage
                )
            return member(rest[1:], sites)
        return chosen(rest, sites)
    except UsageError as problem:
        return problem


def _help(slash: str, words: Sequence[str], overview: str) -> Help | UsageError:
    topic = _topic(words, default=f"/{slash}")
    if not words:
        # `/backup help` is everything; `/restore help` is the /restore part of it.
        return Help(None if slash == "backup" else topic)
    if not _matching(topic):
        return UsageError(f"There is no command {_shown(' '.join(words))} to explain.", overview)
    return Help(topic)


# --- help --------------------------------------------------------------------------------


def _topic(words: Sequence[str], default: str) -> str:
    """Words naming commands as the start of a usage line: `Policy` -> `/backup policy`."""
    lowered = [_word(word) for word in words]
    if lowered and lowered[0].removeprefix("/") in _SLASH_COMMANDS:
        return " ".join(["/" + lowered[0].removeprefix("/"), *lowered[1:]])
    return " ".join([default, *lowered])


def _command_words(usage: str) -> list[str]:
    words: list[str] = []
    for word in usage.split():
        if not re.fullmatch(r"/?[a-z-]+", word):
            break
        words.append(word)
    return words


def _matching(topic: str) -> list[type[SlashCommand]]:
    wanted = topic.split()
    return [
        command
        for command in ALL_COMMANDS
        if _command_words(command.usage)[: len(wanted)] == wanted
    ]


_SECTIONS: Final = (
    ("/backup", "*Backups* (`/backup`)"),
    ("/restore", "*Restores* (`/restore`; `/restore help` shows just these)"),
)
_GRAMMAR_NOTE: Final = (
    "Give ids first, then options as `key=value` with no spaces around `=`."
    " Yes/no options also take true/false, on/off, 1/0. A SITE is an alias from"
    " ATLASSIAN_SITES (see `/backup sites`) or a cloud id; a product is jira or confluence."
    " Commands marked (admin) change things and need a bot admin."
)


def _entry(command: type[SlashCommand]) -> str:
    admin = " (admin)" if command.changes_things else ""
    return f"• `{command.usage}` — {command.summary}{admin}. Example: `{command.example}`"


def help_text(command: str | None = None) -> str:
    """The help as mrkdwn: every command of both slash commands with its usage and an example.

    ``command`` narrows it to the commands whose usage starts with those words, e.g.
    ``"/restore"``, ``"policy"`` or ``"backup export-status"`` (without a slash command,
    `/backup` is meant). When nothing matches, the whole help is returned.
    """
    chosen = list(ALL_COMMANDS)
    if command is not None and command.split():
        narrowed = _matching(_topic(command.split(), default="/backup"))
        chosen = narrowed or chosen
    lines: list[str] = []
    for slash, title in _SECTIONS:
        entries = [_entry(c) for c in chosen if _command_words(c.usage)[0] == slash]
        if entries:
            lines.extend([title, *entries, ""])
    lines.append(_GRAMMAR_NOTE)
    return "\n".join(lines)
