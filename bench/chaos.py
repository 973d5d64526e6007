"""Crash runs larger than CI's: ``certdesk up`` killed with SIGKILL at random moments while people
register for login certificates and apply for server certificates, retrying what failed.

    .venv/bin/python bench/chaos.py [--registrations 30] [--applications 10] [--kills 3] [--seed 1]

Prints what completed, how often people had to retry, and every broken invariant (a certificate
signed twice or lost, an e-mail sent twice, a person stranded: a registration that could not finish).
Exit status 1 when any invariant broke.
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import one_certificate_per_issuance, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=30)
    parser.add_argument("--applications", type=int, default=10)
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--kills", type=int, default=5, help="alternately the second worker and the whole stack")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report, db = run(Path(tmp), args.registrations, args.applications, args.kills, args.seed, args.seconds,
                         args.resets)
        problems = report.problems + one_certificate_per_issuance(db)
    print(f"kills: worker {report.worker_kills}, whole stack {report.kills}; "
          f"registrations {report.registrations}: downloaded {report.downloaded}, "
          f"download password given again after a cut-off answer {report.answered_again}; "
          f"applications {report.applications}: issued {report.issued}, reissued {report.reissued}; "
          f"password resets {report.resets}: mailed {report.reset_mailed}")
    print("retries: " + (", ".join(f"{k} {n}" for k, n in sorted(report.retries.items())) or "none"))
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
