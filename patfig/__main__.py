"""`python -m patfig`: the same as the `patfig` command."""

from patfig.cli import main

if __name__ == "__main__":
    main()
