"""Fair comparisons in words: the route comparison and the response profile, for a terminal or a page."""

from __future__ import annotations

from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.queries.comparisons import Adjusted, RouteComparison
from analysis.queries.profile import LABELS, Profile


def points(value: float | None, *, short: bool = False) -> str:
    """A risk difference in percentage points: ``0.042`` → ``+4.2 points`` (``+4.2`` when short)."""
    if value is None:
        return fmt.MISSING
    return f"{100 * value:+.1f}" + ("" if short else " points")


def ratio(value: float | None) -> str:
    """An odds ratio with two decimals; "—" when undefined."""
    return fmt.MISSING if value is None else f"{value:.2f}"


def excluded_sentence(adjusted: Adjusted) -> str:
    """Who the model left out and why, and which small groups it pooled."""
    parts = []
    if adjusted.excluded_missing:
        reasons = ", ".join(f"{count} with {why}" for why, count in (adjusted.excluded_reasons or {}).items())
        parts.append(f"left out {fmt.count(adjusted.excluded_missing)} patients ({reasons})")
    for name, levels in (adjusted.pooled or {}).items():
        shown = ", ".join(display_name(level) for level in levels)
        parts.append(f"pooled {name} {shown} (too few responders or non-responders to stand alone)")
    if not parts:
        return f"The model used all {fmt.count(adjusted.n)} patients of the two routes."
    return f"The model used {fmt.count(adjusted.n)} patients; it " + "; ".join(parts) + "."


def adjusted_sentence(result: RouteComparison) -> str:
    """The adjusted result in one sentence, or why there is none."""
    adjusted = result.adjusted
    if adjusted.not_fitted:
        return adjusted.not_fitted
    interval = "bootstrap" if adjusted.rd_method == "bootstrap" else "delta-method"
    return (
        f"Adjusted for condition, baseline pain, age, sex and site: odds ratio {ratio(adjusted.odds_ratio)} "
        f"(95% CI {ratio(adjusted.ci_low)} to {ratio(adjusted.ci_high)}, p {fmt.p_value(adjusted.p)}); "
        f"standardised difference {points(adjusted.risk_difference)} (95% {interval} CI "
        f"{points(adjusted.rd_ci_low)} to {points(adjusted.rd_ci_high)}): "
        f"{fmt.percent(adjusted.risk_a)} if everyone had {display_name(result.a)}, "
        f"{fmt.percent(adjusted.risk_b)} if everyone had {display_name(result.b)}."
    )


def route_comparison_text(result: RouteComparison) -> str:
    """The comparison as a few lines for a terminal."""
    c, d = result.crude, result.definition
    a, b = display_name(result.a), display_name(result.b)
    lines = [
        f"{a} (A) against {b} (B): response at day {d.timepoint_days} (±{d.window_days} d), "
        f"≥{100 * d.threshold:.0f}% reduction, {d.missing.upper() if d.missing == 'itt' else d.missing}, "
        f"data cut-off {d.cutoff}",
        f"Crude: A {fmt.count(c.count1)}/{fmt.count(c.nobs1)}, B {fmt.count(c.count2)}/{fmt.count(c.nobs2)}; "
        f"difference {points(c.risk_difference)} (95% CI {points(c.rd_low)} to {points(c.rd_high)}, "
        f"Newcombe); odds ratio {ratio(c.odds_ratio)} (exact 95% CI {ratio(c.or_low)} to "
        f"{ratio(c.or_high)}); Fisher p {fmt.p_value(c.fisher_p)}",
        adjusted_sentence(result),
        excluded_sentence(result.adjusted),
    ]
    if result.adjusted.caution:
        lines.append(result.adjusted.caution)
    lines.append(
        "Routes are not randomised: the adjustment removes differences in the characteristics "
        "measured, not in those that are not (docs/comparisons.md)."
    )
    return "\n".join(lines)


PROFILE_HEADING = "Who responds: associations in our patients, not a rule for refusing anyone"


def profile_notes(result: Profile) -> list[str]:
    """Who the profile left out, which characteristics it could not use, which groups it pooled."""
    notes = []
    for name in result.left_out:
        notes.append(f"{LABELS.get(name, name)} is recorded for no patient: left out of the model.")
    if result.excluded:
        parts = ", ".join(f"{fmt.count(count)} with {why}" for why, count in result.excluded.items())
        notes.append(f"Patients left out: {parts}.")
    for name, levels in result.pooled.items():
        notes.append(
            f"Pooled {name} {', '.join(display_name(level) for level in levels)} (too few responders or "
            "non-responders to stand alone)."
        )
    if result.references:
        shown = ", ".join(f"{name} {display_name(level)}" for name, level in result.references.items())
        notes.append(f"Odds ratios of categories are against: {shown} (the most common).")
    return notes


def auc_sentence(result: Profile) -> str:
    """The cross-validated AUC in words."""
    if result.auc is None:
        return result.not_fitted or ""
    a = result.auc
    return (
        f"Cross-validated AUC {a.auc:.2f} (95% CI {a.ci_low:.2f} to {a.ci_high:.2f}, DeLong; "
        f"{result.folds} folds of patients, seed {result.seed}): 0.5 is a coin toss, 1 a perfect split. "
        "It measures how well these characteristics separate responders from non-responders in this clinic."
    )


def profile_text(result: Profile) -> str:
    """The profile as lines for a terminal."""
    lines = [PROFILE_HEADING, f"{fmt.count(result.n)} patients in the model."]
    if result.associations:
        width = max(len(a.label) for a in result.associations)
        lines.append(f"{'Characteristic'.ljust(width)}  Odds ratio  95% CI          p")
        for a in result.associations:
            lines.append(
                f"{a.label.ljust(width)}  {a.odds_ratio:10.2f}  {a.ci_low:5.2f} to {a.ci_high:5.2f}  "
                f"{fmt.p_value(a.p)}"
            )
    lines.append(auc_sentence(result))
    if result.calibration:
        lines.append("Calibration (tenths of predicted risk): predicted → observed (patients)")
        lines.extend(
            f"  {fmt.percent(g.predicted)} → {fmt.percent(g.observed)} ({fmt.count(g.patients)})"
            for g in result.calibration
        )
    lines.extend(profile_notes(result))
    return "\n".join(lines)
