"""``make demo`` — the whole story of Machi Ledger against the service ``make run`` started.

    python -m scripts.demo [--url http://127.0.0.1:8000] [--rpc-url URL] [--work-dir DIR] [--no-browser]

Run it in a second terminal while ``make run`` serves. It reads the same ``MACHI_*`` settings as the
service (var/ directory, database, embedded node port), runs ``machi`` and ``machi-wallet`` for real,
prints one line per step, and leaves everything in place: the residents' wallets under
``var/demo/<run>/``, the merchant, the application, and console logins to click around with. Run it
again for a new set of residents and a new merchant.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from procedures.config import get_settings
from scripts.demo_clerk import ClerkDesk, api_clerk, browser_clerk
from scripts.demo_steps import run_story
from scripts.demo_story import DEMO_STAFF, StoryConfig, StoryResult
from scripts.demo_tools import DemoError, WebhookReceiver


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("MACHI_API_URL") or f"http://{settings.host}:{settings.port}",
                        help="the running service (default: MACHI_API_URL, else MACHI_HOST:MACHI_PORT)")
    parser.add_argument("--rpc-url", default=settings.effective_rpc_url,
                        help="the service's chain (default: MACHI_RPC_URL, else the embedded node)")
    parser.add_argument("--work-dir", type=Path, default=settings.var_dir / "demo",
                        help="where the residents' wallets and cards go (default var/demo)")
    parser.add_argument("--no-browser", action="store_true", help="approve through the clerk API, not Chromium")
    return parser.parse_args(argv)


def _summary(result: StoryResult, url: str, work_dir: Path) -> None:
    hanako = result.hanako
    print("\nThe demo data stays in place. Log in to the console at", f"{url}/console", "as:")
    for role, (username, password, _) in DEMO_STAFF.items():
        print(f"  {role:6} {username} / {password}")
    print(f"Hanako's wallet: MACHI_WALLET_HOME={hanako.home} MACHI_WALLET_PASSWORD={hanako.password} "
          f".venv/bin/machi-wallet --keystore {hanako.current_keystore} balance")
    print(f"(wallets, cards and forms of this run are under {work_dir}; run `make demo` again for a new story)")


def main(argv: list[str] | None = None) -> int:
    """Run the story once; 0 when every step came out right."""
    args = _arguments(argv)
    count = 0

    def say(line: str) -> None:
        nonlocal count
        count += 1
        print(f"{count:2}. {line}", flush=True)

    screenshot = args.work_dir / "console-approved.png"
    desks: AbstractContextManager[ClerkDesk | None] = (nullcontext(None) if args.no_browser
                                                       else browser_clerk(screenshot))
    with WebhookReceiver() as receiver, desks as desk:
        config = StoryConfig(api_url=args.url, rpc_url=args.rpc_url, work_dir=args.work_dir,
                             machi_env=dict(os.environ), receiver=receiver, clerk=desk or api_clerk, say=say)
        try:
            result = run_story(config)
        except DemoError as exc:
            print(f"demo stopped: {exc}", file=sys.stderr)
            return 1
    _summary(result, args.url, args.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
