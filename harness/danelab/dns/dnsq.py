"""Ask the lab resolver a question and describe the answer.

Used by tests, the preflight and `danelab dig`.  In root mode the query runs
in a harness thread inside the lab namespace; in user mode this module runs as
a program inside it (`python3 -m danelab.dns.dnsq NAME TYPE`) and prints JSON.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from dataclasses import asdict, dataclass, field

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from ..netns import LabNamespace

RESOLVER = "127.53.0.53"


@dataclass
class Answer:
    rcode: str                      # NOERROR, NXDOMAIN, SERVFAIL, TIMEOUT
    ad: bool
    answer: list[str] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """RFC 7672's view: secure, insecure, or bogus/indeterminate."""
        if self.rcode not in ("NOERROR", "NXDOMAIN"):
            return "bogus"
        return "secure" if self.ad else "insecure"


def query(name: str, rtype: str, server: str = RESOLVER,
          timeout: float = 3.0) -> Answer:
    q = dns.message.make_query(name, rtype, want_dnssec=True,
                               use_edns=0, payload=4096)
    q.flags |= dns.flags.AD
    try:
        r = dns.query.udp(q, server, timeout=timeout)
        if r.flags & dns.flags.TC:
            r = dns.query.tcp(q, server, timeout=timeout)
    except dns.exception.Timeout:
        return Answer("TIMEOUT", False)
    ede = [(o.code, o.text or "") for o in r.options
           if isinstance(o, dns.edns.EDEOption)]
    ans = [rr.to_text() for rr in r.answer]
    return Answer(dns.rcode.to_text(r.rcode()), bool(r.flags & dns.flags.AD),
                  ans, ede)


def query_in(ns: LabNamespace, name: str, rtype: str,
             server: str = RESOLVER) -> Answer:
    """query() from inside the lab namespace."""
    if ns.mode == "root":
        return ns.call(query, name, rtype, server)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    cp = ns.run(["/usr/bin/python3", "-m", "danelab.dns.dnsq", name, rtype,
                 server], check=True, env=env)
    d = json.loads(cp.stdout)
    return Answer(d["rcode"], d["ad"], d["answer"],
                  [tuple(x) for x in d["ede"]])  # type: ignore[misc]


if __name__ == "__main__":
    a = query(sys.argv[1], sys.argv[2],
              sys.argv[3] if len(sys.argv) > 3 else RESOLVER)
    print(json.dumps(asdict(a)))
