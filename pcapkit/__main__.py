"""`python -m pcapkit ...`: the `pcapkit` command."""

from pcapkit.cli.app import main

if __name__ == "__main__":
    main()
