"""``python -m recsys.simulate OUT_DIR [options]``: the command line of :func:`recsys.simulate.main`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
