"""Every access refusal names who can help, for every role the bot knows."""

from __future__ import annotations

from bot.access import AccessPolicy, Role

POLICY = AccessPolicy.build(admins=["UALICE"], approvers=["UALICE", "UBOB"], four_eyes=True)


def test_an_approver_only_refusal_names_the_approvers_and_who_can_add_you() -> None:
    """Starting, consenting and approver commands name who may, and which admin can grant it."""
    for said in (
        POLICY.start_refusal("UCAROL", "UALICE"),
        POLICY.consent_refusal("UCAROL", "UALICE"),
        POLICY.role_refusal("UCAROL", "C1", Role.APPROVER),
    ):
        assert said is not None
        assert "<@UALICE> or <@UBOB> can do it now." in said
        assert "Ask an admin (<@UALICE>) or the bot's operator to add you to BOT_APPROVERS." in said


def test_an_admin_only_refusal_names_the_admins() -> None:
    """A viewer running a changing command is pointed at the admins by mention."""
    said = POLICY.role_refusal("UCAROL", "C1", Role.ADMIN)
    assert said == (
        "Only bot admins may run commands that change things. Ask an admin (<@UALICE>) or the "
        "bot's operator to add you to BOT_ADMINS."
    )


def test_with_no_admins_the_operator_is_named_with_the_setting() -> None:
    """Nobody to ask in Slack: the operator must set the variable."""
    said = AccessPolicy.build(admins=[]).role_refusal("UCAROL", "C1", Role.ADMIN)
    assert said is not None
    assert said.endswith("Nobody is an admin yet: the bot's operator must set BOT_ADMINS.")


def test_four_eyes_says_an_approver_other_than_the_requester() -> None:
    """The requester is told which other approvers can start or consent."""
    assert POLICY.start_refusal("UALICE", "UALICE") == (
        "Four-eyes rule: an approver other than <@UALICE> (<@UBOB>) must start this restore."
    )
    assert POLICY.consent_refusal("UALICE", "UALICE") == (
        "Four-eyes rule: an approver other than <@UALICE> (<@UBOB>) must give consent."
    )


def test_a_viewer_who_may_not_cancel_is_told_who_may() -> None:
    """Cancel names the requester."""
    assert POLICY.cancel_refusal("UCAROL", "UALICE") == (
        "Only <@UALICE>, who requested this restore, or a restore approver may cancel it."
    )
