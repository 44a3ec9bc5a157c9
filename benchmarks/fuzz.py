"""A long fuzzing run of the whole API (schemathesis), the suite's short run made longer.

Run:  python -m benchmarks.fuzz [--examples 500] [--seed N]

Every operation is fuzzed from the app's own OpenAPI document, as the admin and as a channel,
in process against an embedded hub; the run fails on any 5xx and on any answer the document
does not describe. The suite runs the same test with a few examples per operation.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

TEST = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "test_api_fuzz.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=500, help="per operation and role")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed, to replay")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "pytest", str(TEST), "-q", "-p", "no:cacheprovider"]
    command += ["-o", "timeout=0"]  # a long run is long on purpose
    if args.seed is not None:
        command.append(f"--hypothesis-seed={args.seed}")
    env = {**os.environ, "ORDERHUB_FUZZ_EXAMPLES": str(args.examples)}
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
