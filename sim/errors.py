"""The one error type a user should ever see from bad input.

A scenario file with a typo, a negative rate or a missing trace is the user's mistake, not a bug: it deserves
one line that names the field and the problem (``workload.rate_per_s: must be greater than 0``), never a
traceback. Everything that validates input raises :class:`ScenarioError`; the command line turns it into a
message and exit status 2.
"""


class ScenarioError(ValueError):
    """Invalid scenario input; ``str(err)`` is a complete message naming the field(s) at fault."""
