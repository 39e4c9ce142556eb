#!/bin/sh
# fuzz-run.sh -- run libFuzzer targets one after the other, each for a time
# limit, with its corpus, seeds and dictionary; stop at the first failure.
# Shared by refsend's and refsend-tlsrpt's Makefiles (`make fuzz`, and the
# short smoke run of `make check`).
#
#   fuzz-run.sh FUZZBUILD SECONDS BINARY...
#
# Target NAME (the binary's base name) reads fuzz/NAME.dict and the seeds
# in fuzz/seeds-NAME/ (relative to the current folder); its corpus grows in
# FUZZBUILD/corpus-NAME, its log is FUZZBUILD/NAME.log, and a failing input
# is written to FUZZBUILD/ (crash-*, leak-*, timeout-*).
set -u
[ $# -ge 2 ] || { echo "usage: $0 FUZZBUILD SECONDS BINARY..." >&2; exit 2; }
dir=$1 secs=$2
shift 2
for bin in "$@"; do
	n=$(basename "$bin")
	mkdir -p "$dir/corpus-$n"
	echo "fuzz: $n ($secs s)"
	if ! "$bin" -max_total_time="$secs" -max_len=4096 \
	    -artifact_prefix="$dir/" -dict="fuzz/$n.dict" \
	    "$dir/corpus-$n" "fuzz/seeds-$n" 2>"$dir/$n.log"; then
		tail -40 "$dir/$n.log"
		exit 1
	fi
	grep -h "DONE" "$dir/$n.log" | tail -1
done
