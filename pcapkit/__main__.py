"""`python -m pcapkit ...`: the `pcapkit` command, through its console script's entry point
(`pcapkit.cli.script`): the pool's fork server starts ahead of the CLI's imports, and a worker,
which imports this module first, does not import the CLI (`python -m pcapkit` on 1.3M DNS-heavy
packets took 4.3-4.5 s through `pcapkit.cli.app`, as the console script's 3.75 s now)."""

from pcapkit.cli.script import main

if __name__ == "__main__":
    main()
