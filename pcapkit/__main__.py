"""`python -m pcapkit ...`: the `pcapkit` command, through its console script's entry point
(`pcapkit.cli.script`), which starts the pool's fork server ahead of the CLI's imports
(`python -m pcapkit` on 1.3M DNS-heavy packets took 4.3-4.5 s through `pcapkit.cli.app`, as the
console script's 3.75 s now)."""

from pcapkit.cli.script import main

if __name__ == "__main__":
    main()
