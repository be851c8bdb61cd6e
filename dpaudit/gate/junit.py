"""The gate's verdict as JUnit XML, so CI systems list each rule."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from dpaudit.files import atomic_write_bytes
from dpaudit.gate.rules import ALWAYS_ON, format_value
from dpaudit.gate.verdict import Verdict

__all__ = ["write_junit"]


def write_junit(verdict: Verdict, path: str | os.PathLike) -> Path:
    """Writes the verdict as JUnit XML (one testcase per rule), atomically.

    CI systems (GitLab `reports: junit`, Jenkins, GitHub test-report actions) then list
    each rule, with the failure message on failed ones. Notes go to the suite's
    system-out. Returns the path.
    """
    path = Path(path)
    n, failed = len(verdict.rules), len(verdict.failures)
    counts = {"tests": str(n), "failures": str(failed), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "dpaudit gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "dpaudit gate", **counts, "time": "0"})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "policy", "value": verdict.policy})
    ET.SubElement(props, "property", {"name": "contradiction_check",
                                      "value": str(verdict.contradiction_check).lower()})
    for o in verdict.rules:
        case = ET.SubElement(suite, "testcase", {"classname": f"dpaudit.gate.{o.arm}",
                                                 "name": o.rule, "time": "0"})
        detail = (f"measured {format_value(o.measured)}, limit {o.comparison} {format_value(o.limit)}"
                  f"{', attack ' + o.attack if o.attack else ''}"
                  f"{', limit from ' + o.origin if o.origin not in ('', ALWAYS_ON) else ''}")
        if o.passed:
            ET.SubElement(case, "system-out").text = f"{o.message}\n{detail}"
        else:
            failure = ET.SubElement(case, "failure", {"message": o.message,
                                                      "type": "GateRuleFailed"})
            failure.text = detail
    ET.SubElement(suite, "system-out").text = "\n".join(verdict.notes)
    ET.indent(root)
    atomic_write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return path
