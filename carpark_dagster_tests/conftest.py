"""Settings for every test: hypothesis profiles.

`ci` (CI=true, and the default) has no deadline, since this shared machine's timing is noisy,
and is derandomised, so that a run is reproducible; `thorough` (HYPOTHESIS_PROFILE=thorough)
tries ten times as many examples, for a local run before a change to the rules.
"""

import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
