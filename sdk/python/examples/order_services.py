#!/usr/bin/env python3
"""The order saga's participant services in Python: inventory, payments, billing, orders,
shipping. The same flags as the C++ `order-services`:

  order_services.py --brokers HOST:PORT [--service all|inventory|payments|billing|orders|shipping]
                    [--fail COMMAND]... [--silent COMMAND]... [--twice COMMAND]...
                    [--decline-over AMOUNT] [--state-dir DIR] [--group-prefix P]
                    [--property KEY=VALUE]...

  --fail C          answer C with a business failure
  --silent C        run C but never answer (the orchestrator times out and retries)
  --twice C         answer C twice (the orchestrator ignores the duplicate)
  --decline-over N  payments declines a charge above N (default 1000)
  --group-prefix P  consumer groups P<service>-service (a new prefix reads the topics from the start)
  --property K=V    a librdkafka property for the Kafka clients (e.g. partitioner=murmur2_random,
                    the Java client's partitioner)

Each service keeps its replies by idempotency key in DIR/<topic>.replies.db and runs on a
thread of its own. Runs until SIGINT/SIGTERM.
"""

import argparse
import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sagactl_participant import Command, Reply  # noqa: E402
from sagactl_participant.kafka import Participant  # noqa: E402

SERVICES = {
    "inventory": ("inventory.commands", ["ReserveStock", "ReleaseStock"]),
    "payments": ("payments.commands", ["ChargeCard", "RefundCard"]),
    "billing": ("billing.commands", ["CreateInvoice", "VoidInvoice"]),
    "orders": ("orders.commands", ["ConfirmOrder"]),
    "shipping": ("shipping.commands", ["Ship"]),
}
REPLY_TOPIC = "order-fulfilment.replies"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="order_services.py", description="The order saga's participant services.")
    p.add_argument("--brokers", required=True, help="HOST:PORT of a broker (sagactl dev-broker prints one)")
    p.add_argument("--service", default="all", choices=["all", *SERVICES], help="which service to run")
    p.add_argument("--fail", action="append", default=[], metavar="COMMAND", help="answer COMMAND with a failure")
    p.add_argument("--silent", action="append", default=[], metavar="COMMAND", help="run COMMAND, never answer")
    p.add_argument("--twice", action="append", default=[], metavar="COMMAND", help="answer COMMAND twice")
    p.add_argument("--decline-over", type=float, default=1000, metavar="N", help="decline charges above N")
    p.add_argument("--group-prefix", default="", metavar="P", help="consumer groups are P<service>-service")
    p.add_argument("--state-dir", default=".", metavar="DIR", help="where the reply logs are kept")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="a librdkafka property for the Kafka clients, e.g. partitioner=murmur2_random")
    return p.parse_args(argv)


def handler(name, command, args):
    def handle(c: Command) -> Reply:
        logging.info("%s %s for saga %s (attempt %d)", name, command, c.saga_id, c.attempt)
        if command in args.fail:
            return Reply.failure(f"{command} refused (--fail)")
        if command == "ChargeCard":
            amount = c.payload.get("amount") if isinstance(c.payload, dict) else None
            if isinstance(amount, (int, float)) and amount > args.decline_over:
                return Reply.failure(f"card declined: amount over {args.decline_over:g}")
            return Reply.ok({"chargeId": "ch-" + c.saga_id})
        if command == "ReserveStock":
            return Reply.ok({"reservationId": "r-" + c.saga_id})
        return Reply.ok()

    return handle


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s order-services %(levelname)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    properties = {}
    for prop in args.property:
        key, sep, value = prop.partition("=")
        if not sep or not key:
            print(f'order-services: --property "{prop}" is not KEY=VALUE', file=sys.stderr)
            return 2
        properties[key] = value

    def copies(c: Command) -> int:
        return 0 if c.command in args.silent else 2 if c.command in args.twice else 1

    participants = []
    for name, (topic, commands) in SERVICES.items():
        if args.service not in ("all", name):
            continue
        p = Participant(
            args.brokers,
            topic,
            group=f"{args.group_prefix}{name}-service",
            consume="assign",
            reply_log=os.path.join(args.state_dir, f"{topic}.replies.db"),
            warm_topics=[REPLY_TOPIC],
            reply_copies=copies,
            properties=properties,
        )
        for command in commands:
            p.on(command, handler(name, command, args))
        participants.append((name, topic, p))

    def stop(*_):
        for _, _, p in participants:
            p.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failures = []

    def serve(name, topic, p):
        logging.info("%s serving %s", name, topic)
        try:
            p.run()
        except Exception as e:  # noqa: BLE001 - reported, and the process exits 1
            failures.append(f"{name}: {e}")
            stop()

    threads = [threading.Thread(target=serve, args=entry, daemon=True) for entry in participants]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)  # wakes for signals
    for f in failures:
        print(f"order-services: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
