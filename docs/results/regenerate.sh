#!/bin/sh
# docs/results/regenerate.sh — run the whole scenario catalog against the
# real MTAs and rewrite the published results in this folder:
#   <sender>.json   per case: verdict, observed outcome, the sender's state
#   summary.md      counts per sender and the cases where senders differ
# Senders: reference, postfix, postfix-dane-only, exim, exim-require-dane,
# postfix-mta-sts, chasquid (or the ones named as arguments; summary.md
# then still covers every sender with a published file).  Needs root
# (Postfix and Exim run as their own users inside the lab namespace),
# ci/deps and ci/exim-install done, and the C components built (make).
# About 1 to 2 minutes per sender on 2 cores.  README.md (hand-written) explains the findings: re-read it when
# a verdict changes.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
PYTHONPATH="$top/harness" exec /usr/bin/python3 -m danelab.published "$@"
