"""`carthouse run` without enrichment and fraud checking, for bench/enrich_fraud.py to measure what they cost: the
composition root takes the checks as arguments (app.stack.IngestChecks), so production configuration has no switch
for them. Takes `carthouse run`'s arguments.

    .venv/bin/python bench/unchecked_stack.py [--redis-port N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cli import build_parser, cmd_run  # noqa: E402
from app.stack import IngestChecks  # noqa: E402
from carthouse.config import Settings  # noqa: E402
from carthouse.logs import configure_logging  # noqa: E402


class CleanVerdicts:
    """A fraud checker that finds nothing, at no cost."""

    async def check(self, batch: bytes, events: int) -> list[tuple[int, list[str]]]:
        return [(0, [])] * events


def main() -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    args = build_parser(settings).parse_args(["run", *sys.argv[1:]])
    return cmd_run(args, settings, IngestChecks(enrich=False, fraud=CleanVerdicts()))


if __name__ == "__main__":
    sys.exit(main())
