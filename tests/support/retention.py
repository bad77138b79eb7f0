"""Retention restated for tests: the reference that virtsnap.policy is checked against."""

FIELDS = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar())[:2],
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


def reference_retain(history, retention, zone):
    """PBS's rules restated: option by option, over the periods present.

    For each period option with count N: the periods of the snapshots still
    undecided, newest first, minus the periods already holding a kept
    snapshot, give the first N periods; the newest undecided snapshot of
    each is kept and the other undecided ones of those periods are removed.
    """
    newest_first = sorted(history, key=lambda s: (s.time, s.name), reverse=True)
    counts = retention.counts()
    if not any(counts.values()):
        return {s.name for s in history}
    kept = {s.name for s in newest_first[:counts["keep_last"]]}
    removed = set()
    for option, key in FIELDS.items():
        count = counts[f"keep_{option}"]
        if not count:
            continue
        period = {s.name: key(s.time.astimezone(zone)) for s in history}
        held = {period[name] for name in kept}
        undecided = [s for s in newest_first if s.name not in kept | removed
                     and period[s.name] not in held]
        chosen = []
        for s in undecided:
            if period[s.name] not in chosen:
                chosen.append(period[s.name])
        chosen = chosen[:count]
        for chosen_period in chosen:
            members = [s.name for s in undecided if period[s.name] == chosen_period]
            kept.add(members[0])
            removed.update(members[1:])
    return kept | {s.name for s in history if s.is_current}
