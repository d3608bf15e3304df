"""A Python RabiBridge peer for the wire tests: it puts on the broker what
Python RabiBridge puts there (docs/protocol.md), with pika and msgpack.

    peer.py call URL PREFIX   call the Go worker's PREFIXecho and PREFIXadd,
                              print one line per case: "ok NAME" or "FAIL NAME: ..."
    peer.py serve URL NAME    serve NAME, which answers with what it received and
                              the Python type of each part; print "ready" once
                              consuming; stop at SIGTERM
"""

import random
import signal
import sys

import msgpack
import pika


def channel(url):
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.exchange_declare("rpc", "direct", durable=True)
    return conn, ch


def call(url, prefix):
    conn, ch = channel(url)
    reply_to = ch.queue_declare("", exclusive=True).method.queue
    cases = [
        # name, function, args, kwargs, want
        ("bytes alone", "echo", [b"\xff\x00"], {}, b"\xff\x00"),
        ("bytes in a dict", "echo", [{"b": b"\x00\x01", "s": "\x00\x01"}], {}, {"b": b"\x00\x01", "s": "\x00\x01"}),
        ("bytes as a keyword", "echo", [], {"x": {"b": b"\x02"}}, {"b": b"\x02"}),
        ("bytes in a list", "echo", [[b"\x01", "a", None, True, 1.5]], {}, [b"\x01", "a", None, True, 1.5]),
        ("nested bytes", "echo", [{"a": {"b": [b"\x03"]}}], {}, {"a": {"b": [b"\x03"]}}),
        ("big integers", "echo", [[2**64 - 1, -(2**63), 12345678901234567890, 200, -100]], {},
         [2**64 - 1, -(2**63), 12345678901234567890, 200, -100]),
        ("positional", "add", [1, 2], {}, 3),
        ("keywords", "add", [], {"a": 40, "b": 2}, 42),
        # A run-once function, keyed by the request's Order: the second call
        # with a key gets the first run's answer.
        ("run once", "charge", [], {"Order": "p1", "Cents": 5}, 1),
        ("run once, again", "charge", [], {"Order": "p1", "Cents": 5}, 1),
        ("run once, another key", "charge", [], {"Order": "p2", "Cents": 5}, 2),
        # Exact or refused: a value past its Go type's range is refused with
        # the field named, never wrapped; times travel as text or timestamps.
        ("2**63 into int64", "wide", [], {"n": 2**63}, Refused("/n: cannot decode integer 9223372036854775808 into int64: out of range")),
        ("-1 into uint64", "unsigned", [], {"u": -1}, Refused("/u: cannot decode integer -1 into uint64: out of range")),
        ("add past uint64, validated", "add", [2**64 - 1, 1], {}, Refused("/a: cannot decode integer 18446744073709551615 into int: out of range")),
        ("add past int64", "add", [2**63 - 1, 1], {}, Refused("a + b overflows: a = 9223372036854775807, b = 1")),
        ("int64 max", "wide", [], {"n": 2**63 - 1}, 2**63 - 1),
        ("time as text", "audit", [], {"at": "2024-01-02T05:04:05+02:00"}, "2024-01-02T03:04:05Z"),
        ("time as a timestamp", "audit", [], {"at": msgpack.Timestamp(1704164645, 500)}, "2024-01-02T03:04:05.0000005Z"),
        ("time null", "audit", [], {"at": None}, "0001-01-01T00:00:00Z"),
        ("time without a zone", "audit", [], {"at": "2024-01-02T03:04:05"}, Refused("/at: cannot decode string into time.Time")),
        # A bytes key in an any arrives as text (docs/protocol.md).
        ("bytes key", "echo", [{b"k": 1}], {}, {"k": 1}),
    ]
    for name, fn, args, kwargs, want in cases:
        cid = str(random.randrange(2**30))
        ch.basic_publish("rpc", "async_" + prefix + fn, msgpack.packb([args, kwargs]),
                         pika.BasicProperties(reply_to=reply_to, correlation_id=cid), mandatory=True)
        got = None
        for method, props, body in ch.consume(reply_to, auto_ack=True, inactivity_timeout=10):
            if method is None:
                got = ("timeout",)
                break
            if props.correlation_id == cid:
                got = tuple(msgpack.unpackb(body))
                break
        ch.cancel()
        if isinstance(want, Refused):
            if got[0] == 1 and want.text in got[1]:
                print("ok", name, flush=True)
            else:
                print("FAIL", name + ":", repr(got), "want a refusal saying", repr(want.text), flush=True)
        elif got == (0, want) and same_types(got[1], want):
            print("ok", name, flush=True)
        else:
            print("FAIL", name + ":", repr(got), "want", repr((0, want)), flush=True)
    conn.close()


class Refused:
    """The error reply [1, message] of a call the worker refuses, whose
    message says text."""

    def __init__(self, text):
        self.text = text


def same_types(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b))
    return True


def types(v):
    if isinstance(v, dict):
        return {k: types(x) for k, x in v.items()}
    if isinstance(v, list):
        return [types(x) for x in v]
    return type(v).__name__


def serve(url, name):
    conn, ch = channel(url)
    queue = "rpc_async_" + name
    ch.queue_declare(queue, durable=True, auto_delete=True, arguments={"x-overflow": "reject-publish"})
    ch.queue_bind(queue, "rpc", "async_" + name)
    ch.basic_qos(prefetch_count=1)

    def answer(ch, method, props, body):
        args, kwargs = msgpack.unpackb(body)
        received = {"args": args, "kwargs": kwargs}
        result = {"types": types(received), "received": received}
        ch.basic_publish("", props.reply_to, msgpack.packb([0, result]),
                         pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)

    ch.basic_consume(queue, answer)
    signal.signal(signal.SIGTERM, lambda *_: ch.stop_consuming())
    print("ready", flush=True)
    ch.start_consuming()
    conn.close()


if __name__ == "__main__":
    {"call": call, "serve": serve}[sys.argv[1]](sys.argv[2], sys.argv[3])
