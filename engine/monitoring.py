"""Monitoring and review to go with a medication or procedure option in the plan.

Content from ``shared/domain-reference.md`` §11.1 (early review age band, lithium), §11.3
(esketamine REMS) and §11.6 (antipsychotic ECG, ECT continuation); each line names its source.
Personalised only by what the case records: age (18–25: review after 1 week; 65 and over:
lithium 0.4–0.6 mmol/L) and a suicide-risk concern (a risk gate was raised: review after 1 week).
"""

from __future__ import annotations

from ..schemas.options import Option

#: Options that start or change a medication (a review follows every change).
MEDICATION_CHANGES = frozenset(
    {
        Option.first_line_depression_treatment,
        Option.complete_adequate_antidepressant_trial,
        Option.antidepressant_switch_or_optimisation,
        Option.pharmacological_augmentation,
        Option.antidepressant_plus_antipsychotic,
        Option.integrated_medication_and_therapy,
        Option.esketamine,
    }
)

LITHIUM = (
    "If lithium: before starting, weight, renal and thyroid function and calcium; plasma level "
    "12 h post-dose 1 week after starting and after each dose change, weekly until stable, "
    "3-monthly in year 1, then 6-monthly; keep the level at or below 1.0 mmol/L, usually "
    "{band} (NICE NG222, via domain-reference §11.1)."
)
ECG = (
    "If an antipsychotic: ECG at baseline and at the final dose when there is cardiovascular "
    "disease or risk, or another QT-prolonging drug such as citalopram or escitalopram "
    "(NICE NG222 summary; MHRA 2011)."
)
ESKETAMINE = (
    "Observe for at least 2 hours after each dose and until sedation, dissociation and "
    "respiratory depression have resolved; a prescriber on site and a pulse oximeter (FDA "
    "REMS, NDA 211243). It does not replace hospital care when that is needed."
)
ECT = (
    "Review cognition during the course (greater risk with older age); stop at stable "
    "remission or if harms outweigh benefit; after a response, start or continue an "
    "antidepressant or psychological treatment and consider lithium (NICE NG222 1.13.2, "
    "1.13.8–1.13.9)."
)


def review_line(age: int | None, risk_concern: bool) -> str:
    """When to review after a change of treatment (NG222 1.4.11 / 1.4.24)."""
    reasons = []
    if age is not None and 18 <= age <= 25:
        reasons.append("aged 18 to 25")
    if risk_concern:
        reasons.append("suicide risk is a concern")
    if reasons:
        return (
            f"Review 1 week after starting or changing treatment ({' and '.join(reasons)}), "
            "then regularly (NICE NG222 1.4.11, 1.4.24)."
        )
    return (
        "Review within 2 weeks of starting or changing treatment, then no later than 4 weeks "
        "(NICE NG222 1.4.11, 1.4.24)."
    )


def monitoring(option: Option, age: int | None, risk_concern: bool) -> list[str]:
    """The monitoring and review lines for one option (empty when none apply)."""
    lines: list[str] = []
    if option in MEDICATION_CHANGES:
        lines.append(review_line(age, risk_concern))
    if option is Option.pharmacological_augmentation:
        band = "0.4–0.6 mmol/L at 65 and over" if age is not None and age >= 65 else "≥ 0.4"
        lines.append(LITHIUM.format(band=band))
        lines.append(ECG)
    if option is Option.antidepressant_plus_antipsychotic:
        lines.append(ECG)
    if option is Option.esketamine:
        lines.append(ESKETAMINE)
    if option is Option.ect:
        lines.append(ECT)
    return lines
