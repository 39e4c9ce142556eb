#!/bin/sh
# refsend-command.sh: the reference sender (reference-impl/build/refsend)
# behind danelab's command adapter, as an example of the contract in
# docs/adapters.md.  Run it with
#     bin/danelab run --sender command:docs/examples/refsend-command.sh
# Every action runs inside the lab namespace; DANELAB_* say where things are.
set -eu

REFSEND=${REFSEND:-$DANELAB_ROOT/reference-impl/build/refsend}
REPORTER=${REPORTER:-$DANELAB_ROOT/reference-impl/tlsrpt/build/refsend-tlsrpt}
CONF=$DANELAB_RUN_DIR/refsend.conf
EVENTS=$DANELAB_RUN_DIR/events.jsonl
IDS=$DANELAB_RUN_DIR/queue-ids          # "QUEUE-ID MESSAGE-ID" per line

case "$1" in
start)
	# refsend has no daemon here: each run-queue is one pass.
	{
		echo "queue_dir = $DANELAB_RUN_DIR/queue"
		echo "events = $EVENTS"
		echo "resolver = $DANELAB_RESOLVER"
		echo "trust_anchor = $DANELAB_TRUST_ANCHOR"
		echo "helo_name = refsend-command.$DANELAB_HELO"
		echo "connect_timeout = 3"
		echo "tls_timeout = 5"
		echo "retry_schedule = 1"
		echo "max_attempts = 10"
		while read -r domain level; do
			echo "policy = $domain $level"
		done <"$DANELAB_POLICIES"
	} >"$CONF"
	: >"$IDS"
	;;
preflight)
	# refsend validates DNSSEC itself (libunbound + trust anchor): the
	# AD bit of the stub resolver does not matter.  Print problems, if any.
	[ -r "$DANELAB_TRUST_ANCHOR" ] || echo "trust anchor not readable"
	;;
submit)
	qid=$("$REFSEND" -c "$CONF" submit -f "$DANELAB_FROM" "$DANELAB_RCPT" \
	    <"$DANELAB_MESSAGE_FILE")
	echo "$qid $DANELAB_MESSAGE_ID" >>"$IDS"
	;;
run-queue)
	"$REFSEND" -c "$CONF" run --all
	;;
status)
	# One line per message: MESSAGE-ID STATE DSN REASON, from the last
	# delivered/deferred/bounced event of its queue id.
	while read -r qid mid; do
		last=$(grep -F "\"queue_id\":\"$qid\"" "$EVENTS" |
		    grep -E '"event":"(delivered|deferred|bounced)"' | tail -n 1)
		[ -n "$last" ] || continue
		state=$(echo "$last" | sed 's/.*"event":"\([a-z]*\)".*/\1/')
		dsn=$(echo "$last" | sed -n 's/.*"dsn":"\([0-9.]*\)".*/\1/p')
		reason=$(echo "$last" | sed -n 's/.*"reason":"\([^"]*\)".*/\1/p')
		echo "$mid $state ${dsn:-2.0.0} ${reason:-ok}"
	done <"$IDS"
	;;
reload)
	exit 0          # refsend caches nothing between passes
	;;
expire)
	# The lab's forced expiry (case 35): one attempt left, due now.
	# shellcheck disable=SC2086
	"$REFSEND" -c "$CONF" expire $DANELAB_MESSAGE_IDS
	;;
flush-reports)
	# TLSRPT: refsend-tlsrpt reads refsend's events and reports whole
	# UTC days, so its clock (-T) is set just past the next midnight:
	# today is then complete.  Retries move the clock on, past the
	# retry schedule, instead of waiting.
	[ -x "$REPORTER" ] || exit 3
	rconf=$DANELAB_RUN_DIR/tlsrpt.conf
	{
		echo "events = $EVENTS"
		echo "state_dir = $DANELAB_RUN_DIR/tlsrpt"
		echo "resolver = $DANELAB_RESOLVER"
		echo "trust_anchor = $DANELAB_TRUST_ANCHOR"
		echo "organization_name = refsend behind the command adapter"
		echo "reporting_domain = $DANELAB_REPORTING_DOMAIN"
		echo "contact_info = tlsrpt@$DANELAB_REPORTING_DOMAIN"
		echo "dkim_selector = $DANELAB_DKIM_SELECTOR"
		echo "dkim_key = $DANELAB_DKIM_KEY"
		echo "helo_name = refsend-command.$DANELAB_HELO"
		echo "https_ca = $DANELAB_LAB_CA"
		echo "retry_schedule = 1,1,2"
	} >"$rconf"
	at=$(( ($(date +%s) / 86400 + 1) * 86400 + 1 ))
	"$REPORTER" -T "$at" -c "$rconf" flush
	"$REPORTER" -T $((at + 4)) -c "$rconf" retry
	"$REPORTER" -T $((at + 8)) -c "$rconf" retry
	;;
describe)
	# For the report's header: the version, and a digest of the
	# configuration that stays the same from run to run (the run folder's
	# paths and the catalog's per-domain policies left out).
	echo "version: refsend $(sha256sum "$REFSEND" | cut -c1-16) (example script)"
	digest=$(grep -v -e '^policy = ' -e '^trust_anchor = ' "$CONF" |
	    sed "s|$DANELAB_RUN_DIR|RUN|g" | sha256sum | cut -d' ' -f1)
	echo "config: sha256:$digest"
	;;
stop)
	exit 0          # nothing runs between actions
	;;
*)
	exit 3          # an action this script does not know
	;;
esac
