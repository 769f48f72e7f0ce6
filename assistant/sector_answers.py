"""Answer values for `measure_theme`: the sector's words (forest lost, water extent, burned area, site watch) with
numbers and units formatted from the tool's facts only (templates: prompts/answers/measure_theme.<lang>.md)."""

from __future__ import annotations

from typing import Any

from assistant.templates import fmt_number, fmt_percent, render

TEMPLATE = "measure_theme"


def km2_label(value: float, language: str) -> str:
    """'1,664.96 km²' / '1 664,96 km²' (two decimals: the figures are checked against the facts)."""
    return fmt_number(float(value), language, 2) + " km²"


def signed_km2_label(value: float, language: str) -> str:
    return ("+" if value > 0 else "") + km2_label(value, language).replace("-", "−")


def _date_label(text: str, year_only: bool) -> str:
    return text[:4] if year_only else text


def theme_label(name: str, language: str) -> str:
    return render(TEMPLATE, f"theme_{name}", language) or name


def measure_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    """Template fields for one measure_theme result."""
    values: dict[str, Any] = {k: v for k, v in facts.items() if not isinstance(v, dict | list)}
    year_only = "year_only" in (facts.get("caveats") or [])
    dates = facts.get("dates") or []
    if dates:
        first, last = _date_label(dates[0], year_only), _date_label(dates[-1], year_only)
        values["first_label"], values["last_label"] = first, last
        values["period_label"] = (f"{first}–{last}" if language == "en" else f"de {first} à {last}") \
            if first != last else first
    place = facts.get("place") or args.get("place")
    values["where_label"] = ((" over " if language == "en" else " sur ") + str(place)) if place else " "
    values["analysed_km2_label"] = km2_label(facts.get("analysed_km2") or 0.0, language)
    values["changed_km2_label"] = km2_label(facts.get("changed_km2") or 0.0, language)
    values["changed_percent_label"] = fmt_percent(float(facts.get("changed_percent") or 0.0), language)
    by_theme: dict[str, dict[str, Any]] = facts.get("by_theme") or {}
    values["formula_label"] = "; ".join(f.get("formula", "") for f in by_theme.values())
    burned_only = bool(by_theme) and all("series" not in f for f in by_theme.values())
    values["maps_label"] = render(TEMPLATE, "maps_burned" if burned_only else "maps_lossgain", language)
    site = facts.get("radius_km") is not None
    if site:
        values["radius_label"] = fmt_number(float(facts["radius_km"]), language, 1).rstrip("0").rstrip(".,") + " km"
        values["site_label"] = place or f"{facts['site_lon']}, {facts['site_lat']}"
        parts = [render(TEMPLATE, "site_theme", language, _theme_figure_values(name, fig, language, year_only))
                 for name, fig in by_theme.items() if "series" in fig]
        values["themes_label"] = "; ".join(p for p in parts if p)
    elif len(by_theme) == 1:
        name, fig = next(iter(by_theme.items()))
        values.update(_theme_figure_values(name, fig, language, year_only))
    if facts.get("threshold_percent") is not None:
        values["threshold_label"] = fmt_percent(float(facts["threshold_percent"]), language)
        values["watch_label"] = render(TEMPLATE, "watch_alert" if facts.get("alert") else "watch_quiet", language,
                                       values)
    if facts.get("resolution_m"):
        values["resolution_label"] = f"{fmt_number(float(facts['resolution_m']), language)} m"
    clouds = facts.get("clouds") or {}
    if clouds:
        values["cloud_masked_km2_label"] = km2_label(clouds.get("masked_km2") or 0.0, language)
        left_out = clouds.get("dates_left_out") or []
        values["cloud_dates_label"] = render(TEMPLATE, "cloud_dates", language,
                                             {"dates": ", ".join(left_out)}) if left_out else ""
    notes = [render(TEMPLATE, f"caveat_{c}", language, values) for c in facts.get("caveats") or []]
    values["caveats_label"] = " ".join(n for n in notes if n)
    return values


def _theme_figure_values(name: str, fig: dict[str, Any], language: str, year_only: bool) -> dict[str, Any]:
    """Fields of one theme's figures: per-date areas, loss, gain, trend, largest loss (or burn)."""
    label = theme_label(name, language)
    out: dict[str, Any] = {"measure": label[:1].upper() + label[1:]}
    if "series" in fig:
        out["measure_cap"] = out["measure"]
        for key in ("first", "last"):
            out[f"{key}_km2_label"] = km2_label(fig[f"{key}_km2"], language)
            out[f"{key}_percent_label"] = fmt_percent(float(fig[f"{key}_percent"]), language)
        if len(fig["series"]) >= 2:
            for key in ("loss", "gain"):
                out[f"{key}_km2_label"] = km2_label(fig[f"{key}_km2"], language)
                out[f"{key}_percent_label"] = fmt_percent(float(fig[f"{key}_percent"]), language)
            out["net_km2_label"] = signed_km2_label(fig["net_km2"], language)
        out["series_label"] = ", ".join(
            f"{_date_label(r['date'], year_only)} {fmt_percent(float(r['percent']), language)}"
            for r in fig["series"])
        if fig.get("trend_km2_per_year") is not None:
            out["trend_label"] = signed_km2_label(fig["trend_km2_per_year"], language)
        worst = fig.get("largest_loss")
        if worst:
            out["largest_loss_from"] = _date_label(worst["from"], year_only)
            out["largest_loss_to"] = _date_label(worst["to"], year_only)
            out["largest_loss_label"] = signed_km2_label(worst["net_km2"], language)
    else:  # burned
        out["burned_km2_label"] = km2_label(fig["burned_km2"], language)
        out["burned_percent_label"] = fmt_percent(float(fig["burned_percent"]), language)
        top = fig.get("largest_burn")
        if top:
            out["largest_burn_from"] = _date_label(top["from"], year_only)
            out["largest_burn_to"] = _date_label(top["to"], year_only)
            out["largest_burn_label"] = km2_label(top["km2"], language)
    return out
