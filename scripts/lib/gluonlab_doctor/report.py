"""The report: one line per check (PASS|WARN|FAIL), the help for WARN/FAIL, or the same as JSON."""
import json


class Report(object):
    def __init__(self, msg):
        self.msg = msg
        self.checks = []
        self.skipped = []
        self.facts = {}

    def add(self, name, result):
        self.checks.append({"name": name, "status": result.status, "found": result.found,
                            "symptom": result.symptom, "diagnosis": result.diagnosis,
                            "remedy": list(result.remedy)})

    def skip(self, name, why):
        self.skipped.append({"name": name, "why": why})

    def counts(self):
        c = {"PASS": 0, "WARN": 0, "FAIL": 0}
        for ch in self.checks:
            c[ch["status"]] += 1
        return c

    def exit_code(self):
        return 1 if self.counts()["FAIL"] else 0

    def text(self):
        t = self.msg.text
        lines = [t("report.title")]
        labels = (t("report.symptom"), t("report.diagnosis"), t("report.remedy"))
        for ch in self.checks:
            lines.append("%-4s  %-13s %s" % (ch["status"], ch["name"], ch["found"]))
            if ch["status"] == "PASS":
                continue
            if ch["symptom"]:
                lines.append("      %s: %s" % (labels[0], ch["symptom"]))
            if ch["diagnosis"]:
                lines.append("      %s: %s" % (labels[1], ch["diagnosis"]))
            if ch["remedy"]:
                lines.append("      %s:" % labels[2])
                lines.extend("        %s" % r for r in ch["remedy"])
        c = self.counts()
        lines.append(t("report.summary", passed=c["PASS"], warned=c["WARN"], failed=c["FAIL"]))
        return "\n".join(lines)

    def json(self):
        c = self.counts()
        return json.dumps({"tool": "gluonlab-doctor", "format": 1, "lang": self.msg.lang,
                           "summary": {"pass": c["PASS"], "warn": c["WARN"], "fail": c["FAIL"]},
                           "exit_code": self.exit_code(), "checks": self.checks,
                           "skipped": self.skipped, "facts": self.facts},
                          ensure_ascii=False, indent=2)
