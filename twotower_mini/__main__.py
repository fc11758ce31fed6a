"""`python -m twotower_mini ...`: the suite's command line (`harness.cli`), under the name learners type.

The only import of `harness` from this package: the command line serves every model, so it lives
above both model families; this file just lends it the familiar name.
"""
from harness.cli import main

raise SystemExit(main())
