#!/bin/sh
# A Postfix relay with DANE on, in a podman container that has no network
# of its own: the lab's link (`danelab run --expose netns:PATH`) is its only
# way out.  docs/remote.md ("A podman or docker container") walks through a
# whole run with it.
#
#   podman-postfix-sut.sh start    start the container, print its namespace
#   podman-postfix-sut.sh reload   `postfix reload` (run it between runs:
#                                  smtp(8) keeps TLSA records it looked up)
#   podman-postfix-sut.sh stop     remove the container
#
# The image: IMAGE (default: none; then the host's own root file system
# through an overlay, `--rootfs /:O`, which needs Debian's postfix on the
# host and leaves the host's files untouched).  PODMAN: the podman command
# with any global options (on hosts with a cgroup v1/v2 hybrid, crun
# refuses to start containers: PODMAN="podman --runtime runc").
# RESOLVER: the lab resolver (10.25.0.53 with the default --lab-range).
set -eu
PODMAN=${PODMAN:-podman}
NAME=${NAME:-danelab-sut}
RESOLVER=${RESOLVER:-10.25.0.53}
here=$(cd "$(dirname "$0")" && pwd)

configure() {
	# runs inside the container
	[ -f /etc/postfix/main.cf ] || : > /etc/postfix/main.cf
	# podman refuses --dns with --network none: write resolv.conf here.
	# trust-ad: glibc passes the resolver's AD bit on, which Postfix's
	# DANE needs (smtp_dns_support_level = dnssec).
	printf 'nameserver %s\noptions trust-ad\n' "$RESOLVER" > /etc/resolv.conf
	postconf -e "inet_interfaces = all" "inet_protocols = all" \
	    "myhostname = sut.sender.test" "mydomain = sender.test" \
	    "myorigin = sender.test" "mydestination =" "relayhost =" \
	    "local_recipient_maps =" \
	    "mynetworks = 127.0.0.0/8 10.25.0.0/16 [fd25::]/48" \
	    "smtpd_relay_restrictions = permit_mynetworks, reject" \
	    "smtp_dns_support_level = dnssec" "smtp_host_lookup = dns" \
	    "smtp_tls_security_level = dane" \
	    "maillog_file = /var/log/postfix-sut.log" \
	    "compatibility_level = 3.6"
	# not chrooted: the chroot would need its own copy of resolv.conf
	postconf -F '*/*/chroot = n'
	postfix start
}

case "${1:-}" in
configure)
	configure ;;
start)
	if [ -n "${IMAGE:-}" ]; then src=$IMAGE; else src="--rootfs /:O"; fi
	# ulimits: podman's defaults exceed what some hosts allow
	# shellcheck disable=SC2086
	$PODMAN run -d --name "$NAME" --network none \
	    --ulimit "nofile=$(ulimit -n):$(ulimit -n)" \
	    --ulimit nproc=4096:4096 -e RESOLVER="$RESOLVER" \
	    -v "$here:/danelab-examples:ro" $src sleep infinity >/dev/null
	$PODMAN exec "$NAME" /danelab-examples/podman-postfix-sut.sh configure
	pid=$($PODMAN inspect -f '{{.State.Pid}}' "$NAME")
	echo "/proc/$pid/ns/net" ;;
reload)
	$PODMAN exec "$NAME" postfix reload ;;
stop)
	$PODMAN rm -f -t 2 "$NAME" >/dev/null ;;
*)
	echo "usage: $0 start|reload|stop" >&2
	exit 2 ;;
esac
