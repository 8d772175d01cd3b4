"""The command registry: every declaration is whole, routed, and consistent with its role."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

from bot.access import AccessPolicy, Role
from bot.slack import commands as cmd
from bot.slack.commands.grammar import Option, Positional
from bot.slack.commands.spec import Answer, CommandSet, NotFound, SlashCommand
from bot.slack.commands.values import ID, SITE
from bot.slack.handlers import CommandHandlers

#: Answered by the Slack app itself: the help in the ack, the restore form and workflow.
ANSWERED_BY_THE_APP = {cmd.Help, cmd.RestoreModal, cmd.RestoreStart}


# -- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", cmd.REGISTRY, ids=lambda spec: spec.usage)
def test_each_declared_handler_is_an_async_method_taking_command_who_and_reply(
    spec: cmd.CommandSpec,
) -> None:
    """A handler named in the registry exists on CommandHandlers with the handler signature."""
    if spec.handler is None:
        assert spec.command in ANSWERED_BY_THE_APP
        return
    method = getattr(CommandHandlers, spec.handler)
    assert inspect.iscoroutinefunction(method)
    assert list(inspect.signature(method).parameters) == ["self", "command", "who", "reply"]


def test_only_the_commands_the_app_answers_itself_have_no_handler() -> None:
    """Every other command is routed to CommandHandlers by its declaration alone."""
    assert {spec.command for spec in cmd.REGISTRY if spec.handler is None} == ANSWERED_BY_THE_APP


def test_no_command_is_hidden_behind_another() -> None:
    """No command's words begin another's, so the parser can reach every command."""
    for spec in cmd.REGISTRY:
        for other in cmd.REGISTRY:
            if other is not spec and len(spec.words) > 1:
                assert other.words[: len(spec.words)] != spec.words, (spec.usage, other.usage)


def test_each_command_class_carries_its_own_declaration() -> None:
    """`cmd.BackupRun.usage` and friends read the one declaration, not a copy."""
    for spec in cmd.REGISTRY:
        assert spec.command.spec is spec
        assert spec.command.usage == spec.usage
        assert spec.command.example == spec.example


# -- roles and answers --------------------------------------------------------------------


@pytest.mark.parametrize("spec", cmd.REGISTRY, ids=lambda spec: spec.usage)
def test_read_only_commands_answer_privately_and_changing_ones_in_the_open(
    spec: cmd.CommandSpec,
) -> None:
    """Anyone may look, and only the caller sees it; what changes things shows its work."""
    if spec.role is Role.VIEWER:
        assert spec.answer is Answer.PRIVATE
        assert not spec.changes_things
    else:
        assert spec.answer in (Answer.CARD, Answer.FORM)
        assert spec.changes_things


def test_the_help_marks_each_command_with_the_role_it_needs() -> None:
    """The help line of an admin command says (admin); a viewer's says nothing."""
    text = cmd.help_text()
    for spec in cmd.REGISTRY:
        line = next(line for line in text.splitlines() if line.startswith(f"• `{spec.usage}`"))
        assert ("(admin)" in line) is (spec.role is Role.ADMIN), line


def test_a_command_needing_an_approver_is_refused_to_everyone_else() -> None:
    """The approver role admits approvers, and tells admins and viewers who grants it."""
    access = AccessPolicy.build(admins=["UADMIN"], approvers=["UAPPROVER"])
    assert access.role_refusal("UAPPROVER", "C1", Role.APPROVER) is None
    for user in ("UADMIN", "UVIEWER"):
        refusal = access.role_refusal(user, "C1", Role.APPROVER)
        assert refusal is not None
        assert refusal.startswith("Only restore approvers may run this command.")
        assert "BOT_APPROVERS" in refusal


def test_a_command_needing_an_admin_is_refused_to_an_approver() -> None:
    """Approving restores does not make someone an admin."""
    access = AccessPolicy.build(admins=["UADMIN"], approvers=["UAPPROVER"])
    assert access.role_refusal("UADMIN", "C1", Role.ADMIN) is None
    assert access.role_refusal("UAPPROVER", "C1", Role.ADMIN) is not None
    assert access.role_refusal("UVIEWER", "C1", Role.VIEWER) is None


# -- declarations -------------------------------------------------------------------------


def test_an_argument_naming_no_field_is_refused_at_declaration() -> None:
    """A typo in a field name fails when the module is imported, not when someone types it."""
    scratch = CommandSet("/scratch", "*Scratch*")
    with pytest.raises(TypeError, match="no field"):

        @scratch.command(
            "look", Positional("policy", ID, "policy id"), summary="s", example="e", handler="h"
        )
        @dataclass(frozen=True, slots=True)
        class Look(SlashCommand):
            policy_id: str

    assert scratch.specs == ()


def test_a_required_field_no_argument_fills_is_refused_at_declaration() -> None:
    """A field without a default must be filled by a positional or a required option."""
    scratch = CommandSet("/scratch", "*Scratch*")
    with pytest.raises(TypeError, match="nothing fills"):

        @scratch.command(
            "look", Option("site", SITE, into="cloud_id"), summary="s", example="e", handler="h"
        )
        @dataclass(frozen=True, slots=True)
        class Look(SlashCommand):
            cloud_id: str


def test_a_not_found_naming_no_field_is_refused_at_declaration() -> None:
    """What a 404 means must point at the field that holds the id."""
    scratch = CommandSet("/scratch", "*Scratch*")
    with pytest.raises(TypeError, match="no field"):

        @scratch.command(
            "look",
            Positional("policy_id", ID, "policy id"),
            summary="s",
            example="e",
            handler="h",
            not_found=NotFound("policy", "policy", "list them"),
        )
        @dataclass(frozen=True, slots=True)
        class Look(SlashCommand):
            policy_id: str
