"""Card building as pure functions of report data (no app, no HTTP), and card uuids."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trd_cds.interop.cds_hooks.cards import (
    SUMMARY_MAX,
    build_cards,
    clip,
    md,
    next_step,
    plan_groups,
)
from trd_cds.interop.cds_hooks.services import DraftOrder
from trd_cds.interop.cds_hooks.uuids import card_uuid, parse_card_uuid, record_bits

PROVENANCE = {"ruleset": {"id": "trd-cds-core", "version": "2026.11.1", "hash": "sha256:x"}}


def rec(option: str, tier: str = "pharmacological", **kw: Any) -> dict[str, Any]:
    return {
        "option": option,
        "tier": tier,
        "strength": "offer",
        "after_stabilisation": False,
        "rationale": [f"Because of {option}."],
        "rules": [f"r.{option}@1"],
        "evidence": [],
        "citations": [f"NICE {option}"],
        **kw,
    }


def report(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "case_id": "c",
        "gates": [],
        "recommendations": [rec("cbt"), rec("tms")],
        "cautions": [],
        "blocked": [],
        "findings": [],
        "provenance": PROVENANCE,
        "disclaimer": "Decision support, not a decision.",
    }
    return base | parts


def uuid_for(card: int, suggestion: int) -> str:
    return card_uuid("ab" * 12, card, suggestion)


def test_without_a_plan_the_first_recommendation_is_the_next_step() -> None:
    r = report()
    assert next_step(r) == ("cbt", "Because of cbt.")
    assert plan_groups(r) == [("plan", ["cbt", "tms"])]
    (card,) = build_cards(r, patient_id="p", uuid_for=uuid_for)
    assert card.summary.startswith("TRD plan — next: CBT. Because of cbt.")


def test_with_a_plan_the_plan_decides() -> None:
    """The report's plan (another change) is used as soon as the report carries it."""
    plan = {
        "next_step": {"option": "tms", "reason": "Two adequate trials failed."},
        "now": [{"option": "cbt"}],
        "next": ["tms"],
        "later": [],
        "throughout": [{"option": "holistic_adjuncts"}],
        "data_needed": [
            {
                "pointer": "/suicide_risk/cssrs",
                "label": "suicide risk: C-SSRS screen not recorded",
                "affects": ["safety_assessment_and_plan"],
            }
        ],
    }
    r = report(plan=plan, recommendations=[rec("cbt"), rec("tms"), rec("holistic_adjuncts")])
    assert next_step(r) == ("tms", "Two adequate trials failed.")
    assert plan_groups(r) == [
        ("now", ["cbt"]),
        ("next", ["tms"]),
        ("throughout", ["holistic_adjuncts"]),
    ]
    (card,) = build_cards(r, patient_id="p", uuid_for=uuid_for)
    assert card.summary == "TRD plan — next: TMS. Two adequate trials failed."
    assert card.detail is not None
    assert "### Now" in card.detail and "### Throughout" in card.detail
    assert (
        "- suicide risk: C-SSRS screen not recorded (`/suicide_risk/cssrs`): could change "
        "safety assessment and plan"
    ) in card.detail


def test_no_raw_html_reaches_the_detail() -> None:
    hostile = rec("cbt", rationale=["<script>alert(1)</script> & <b>bold</b>"])
    blocked = [
        {
            "option": "tms",
            "rules": ["contra.x@1"],
            "reasons": ["<img src=x onerror=alert(1)>"],
            "evidence": [],
            "citations": ["<a href=javascript:x>"],
            "overrode": [],
        }
    ]
    r = report(recommendations=[hostile], blocked=blocked)
    (card,) = build_cards(r, patient_id="p", uuid_for=uuid_for)
    assert card.detail is not None and "<" not in card.detail
    assert "&lt;script&gt;" in card.detail
    order = DraftOrder("ServiceRequest/t", "tms", "TMS")
    (ocard,) = build_cards(r, patient_id="p", orders=[order], uuid_for=uuid_for, with_plan=False)
    assert ocard.detail is not None and "<" not in ocard.detail


@given(st.text(max_size=400))
def test_clip_keeps_summaries_within_the_limit(text: str) -> None:
    out = clip(text)
    assert len(out) <= SUMMARY_MAX
    assert "\n" not in out


@given(st.text(max_size=200))
def test_md_leaves_no_tag_opening(text: str) -> None:
    assert "<" not in md(text) and ">" not in md(text)


@given(
    st.text(alphabet="0123456789abcdef", min_size=24, max_size=24),
    st.integers(0, 15),
    st.integers(0, 255),
)
def test_card_uuid_round_trips(bits: str, card: int, suggestion: int) -> None:
    text = card_uuid(bits, card, suggestion)
    u = uuid.UUID(text)
    assert u.version == 8 and u.variant == uuid.RFC_4122
    ref = parse_card_uuid(text)
    assert ref is not None and (ref.record_id, ref.card, ref.suggestion) == (
        f"rec-{bits}",
        card,
        suggestion,
    )
    assert parse_card_uuid("urn:uuid:" + text) == ref


@pytest.mark.parametrize("text", [str(uuid.uuid4()), "not-a-uuid", "", str(uuid.UUID(int=0))])
def test_foreign_uuids_are_not_ours(text: str) -> None:
    assert parse_card_uuid(text) is None


def test_record_bits_without_a_log_come_from_the_report_id() -> None:
    assert record_bits("rec-" + "1" * 24, "rpt-x") == "1" * 24
    assert len(record_bits(None, "rpt-x")) == 24 and record_bits(None, "rpt-x") != "1" * 24
