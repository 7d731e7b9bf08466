"""A strategy's role, declared where it is registered and carried in every results row.

Verdicts, headlines, plot colours and the "best classical" choice read the role, never a list of names.
"""

BASELINE = "baseline"  # the do-nothing option every strategy is compared with (also a classical competitor)
CLASSICAL = "classical"  # a non-generative method: a competitor that generation must beat
GENERATIVE = "generative"  # uses a generative model: the candidates of the verdict
REFERENCE = "reference"  # an upper bound shown for context, never a candidate nor a competitor
ROLES = (BASELINE, CLASSICAL, GENERATIVE, REFERENCE)
CLASSICAL_ROLES = (BASELINE, CLASSICAL)
