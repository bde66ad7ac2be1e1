"""The check registry: what each check is called, its group, which facts it needs and provides.

A check is a function decorated with @check(...) in one of the checks/ modules. It reads what
earlier checks found from ctx.facts and returns one result (ctx.passed / ctx.warn / ctx.fail),
or calls ctx.not_applicable() when there is nothing to check here. Checks run in registration
order; one whose `needs` are not all present is not called and is listed as skipped, with the
reason in messages.py under "skip.<name>". `uses` names facts a check reads when present
(it works without them); `provides` the facts it may set. --help, --skip and the JSON report
come from REGISTRY.
"""


class DoctorError(Exception):
    """The doctor itself cannot run (bad option value): exit code 2."""


class Group(object):
    def __init__(self, name, skippable=True, gate=None):
        self.name = name
        # --skip may name it (the "always" group and the hub group, which --hub-url turns on, not).
        self.skippable = skippable
        # A fact the command line sets when the group applies; without it the group's checks
        # are skipped with the message "skip.group.<name>".
        self.gate = gate


GROUPS = (
    Group("always", skippable=False),
    Group("python"),
    Group("conda"),
    Group("mxnet"),
    Group("gpu"),
    Group("jupyter"),
    Group("host", gate="host_enabled"),
    Group("hub", skippable=False, gate="hub_url"),
)
GROUP_BY_NAME = dict((g.name, g) for g in GROUPS)
# Facts the command line sets before any check runs (see cli.initial_facts).
INITIAL_FACTS = ("where", "host_enabled", "hub_url")


class Check(object):
    def __init__(self, name, group, func, needs, uses, provides, help_text):
        self.name = name
        self.group = group
        self.func = func
        self.needs = tuple(needs)
        self.uses = tuple(uses)
        self.provides = tuple(provides)
        self.help = help_text


class Registry(object):
    def __init__(self):
        self.checks = []

    def add(self, chk):
        if chk.group not in GROUP_BY_NAME:
            raise ValueError("check %s: unknown group %r" % (chk.name, chk.group))
        if any(c.name == chk.name for c in self.checks):
            raise ValueError("check %s is registered twice" % chk.name)
        self.checks.append(chk)

    def names(self):
        return [c.name for c in self.checks]

    def in_group(self, group):
        return [c for c in self.checks if c.group == group]


REGISTRY = Registry()


def check(name, group, needs=(), uses=(), provides=(), help="", registry=None):  # noqa: A002
    """Register the decorated function as the check `name` (see the module docstring)."""
    def register(func):
        (registry or REGISTRY).add(Check(name, group, func, needs, uses, provides, help))
        return func
    return register


class Facts(object):
    """What the checks found, by name. A running check may set only what it declares in
    `provides` and read only that, its `needs`, its `uses` and the INITIAL_FACTS (a doctor
    bug otherwise, exit 2), so the declarations stay true. Public facts also appear under
    "facts" in the JSON report."""

    def __init__(self):
        self._values = {}
        self._public = []
        self._writer = None  # the running Check, or None for the command line's initial facts

    def set(self, name, value, public=False):
        w = self._writer
        if w is not None and name not in w.provides:
            raise AssertionError("check %s sets fact %r but does not declare it in provides" % (w.name, name))
        self._values[name] = value
        if public and name not in self._public:
            self._public.append(name)

    def get(self, name, default=None):
        w = self._writer
        if w is not None and name not in w.needs + w.uses + w.provides + INITIAL_FACTS:
            raise AssertionError("check %s reads fact %r but does not declare it in needs or uses" % (w.name, name))
        return self._values.get(name, default)

    def has(self, name):
        return name in self._values

    def public(self):
        return dict((n, self._values[n]) for n in self._public)


class NotApplicable(Exception):
    """Raised (via ctx.not_applicable) by a check that finds nothing to check here."""


class Result(object):
    def __init__(self, status, found, symptom=None, diagnosis=None, remedy=None):
        assert status in ("PASS", "WARN", "FAIL")
        self.status = status
        self.found = found
        self.symptom = symptom
        self.diagnosis = diagnosis
        self.remedy = list(remedy or [])


class Context(object):
    """What a check gets: the options, the facts so far, the message catalogue."""

    def __init__(self, args, facts, msg):
        self.args = args
        self.facts = facts
        self.msg = msg

    def t(self, key, **kw):
        return self.msg.text(key, **kw)

    @property
    def py(self):
        """How remedy lines name the checked Python (absolute path: copy-paste safe)."""
        # Every check names the checked Python in its remedies: read without a declaration.
        return self.facts._values.get("python_cmd") or "python3"

    @staticmethod
    def passed(found):
        return Result("PASS", found)

    @staticmethod
    def warn(found, symptom=None, diagnosis=None, remedy=None):
        return Result("WARN", found, symptom, diagnosis, remedy)

    @staticmethod
    def fail(found, symptom=None, diagnosis=None, remedy=None):
        return Result("FAIL", found, symptom, diagnosis, remedy)

    @staticmethod
    def not_applicable():
        raise NotApplicable()


def run_checks(registry, ctx, report, skip_groups):
    """Run every registered check in order; each either adds one line to the report or is
    listed as skipped with why (--skip, a group gate, a missing fact, not applicable)."""
    facts = ctx.facts
    for chk in registry.checks:
        group = GROUP_BY_NAME[chk.group]
        if chk.group in skip_groups:
            report.skip(chk.name, ctx.t("skip.option", group=chk.group))
            continue
        if group.gate and not facts.get(group.gate):
            report.skip(chk.name, ctx.t("skip.group." + chk.group, where=facts.get("where")))
            continue
        if not all(facts.has(n) for n in chk.needs):
            report.skip(chk.name, ctx.t("skip." + chk.name))
            continue
        facts._writer = chk
        try:
            result = chk.func(ctx)
        except NotApplicable:
            report.skip(chk.name, ctx.t("skip." + chk.name))
            continue
        finally:
            facts._writer = None
        if not isinstance(result, Result):
            raise AssertionError("check %s returned %r, not a Result" % (chk.name, result))
        report.add(chk.name, result)
    return report
