#!/usr/bin/env python3
"""Checks the monitoring examples against a live site: every tandem_* series that
examples/monitoring's alert rules and Grafana dashboard name exists in the /metrics text
given on stdin (a histogram by its _bucket/_sum/_count, a counter by its _total), and every
label they select on is one the series has.

    curl -s 127.0.0.1:9060/metrics | tools/check_monitoring.py
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERIES = re.compile(r"\b(tandem_[a-z0-9_]+)(\{[^}]*\})?")


def live(text):
    """Series name -> the label names it has, from the exposition text."""
    found = {}
    for line in text.splitlines():
        typed = re.match(r"# TYPE (\S+) (\S+)", line)
        if typed:
            # A family with no sample yet (a counter per status, before the first) is
            # served too; its labels are not known.
            name, kind = typed.groups()
            names = [name + s for s in ("_bucket", "_sum", "_count")] if kind == "histogram" else [name]
            for n in names:
                found.setdefault(n, None)
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if m:
            labels = {kv.split("=")[0] for kv in (m.group(3) or "").split(",") if "=" in kv}
            found[m.group(1)] = (found.get(m.group(1)) or set()) | labels
    return found


def expressions():
    rules = (ROOT / "examples/monitoring/prometheus-alerts.yml").read_text()
    exprs = [("alert rules", e) for e in re.findall(r"expr:\s*(.+)", rules)]
    dash = json.loads((ROOT / "examples/monitoring/grafana-dashboard.json").read_text())
    for panel in dash["panels"]:
        exprs += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            exprs.append((var["name"], var["query"]))
    return exprs


def main():
    have = live(sys.stdin.read())
    if not have:
        sys.exit("no series on stdin (is the site up?)")
    wrong = []
    for where, expr in expressions():
        named = [have.get(name) for name, _ in SERIES.findall(expr)]
        known = set().union(*[n for n in named if n is not None]) if all(n is not None for n in named) else None
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            grouped = {g.strip() for g in group.split(",") if g.strip()}
            if known is not None and not grouped <= known | {"le"}:
                wrong.append(f"{where}: grouped by {sorted(grouped - known - {'le'})}, which its series lack")
        for name, selector in SERIES.findall(expr):
            labels = set(re.findall(r"([a-z_]+)\s*=~?", selector or ""))
            if name not in have:
                wrong.append(f"{where}: {name} is not served")
            elif have[name] is not None and not labels <= have[name] | {"le"}:
                wrong.append(f"{where}: {name} has no label {sorted(labels - have[name])}")
    for w in wrong:
        print(w)
    if wrong:
        sys.exit(1)
    print(f"monitoring examples: every series they name is served ({len(have)} series live)")


if __name__ == "__main__":
    main()
