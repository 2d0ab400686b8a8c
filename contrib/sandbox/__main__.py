"""``python -m cosell.contrib.sandbox --port P --seed N --partners N --deals N --faults SPEC
--rate-limits real``."""

from __future__ import annotations

import argparse
import sys

from . import RATE_LIMITS, serve_forever
from .faults import FaultSpecError, parse_faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cosell.contrib.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--deals", type=int, default=500)
    parser.add_argument(
        "--faults", default=None, help="e.g. 429=0.3,503=0.1,latency=50ms,stop_after=500,invalid=ID1;ID2"
    )
    parser.add_argument(
        "--rate-limits",
        choices=RATE_LIMITS,
        default="none",
        help="real: HubSpot's burst and search limits (429), Salesforce's daily count (403)",
    )
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    serve_forever(args.port, args.seed, args.partners, args.deals, faults, args.rate_limits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
