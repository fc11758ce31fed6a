"""harness: what every model shares, classic or two-tower, above both model families.

    harness.leaderboard   every model on one split, one table and JSON (the contract other tools use)
    harness.cli           the command line, `python -m twotower_mini --help`
    harness.options       its checked option types and the data options every subcommand shares
    harness.distributed   the DDP launcher (`torchrun ... -m harness.distributed`) over the one
                          training loop of `twotower_mini.train`

Dependencies go one way: harness imports lineage and twotower_mini; neither imports harness
(except `python -m twotower_mini`, which lends this command line its name).
"""
