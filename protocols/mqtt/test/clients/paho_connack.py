"""Debian's python3-paho-mqtt (MQTT 5) connecting once per case and reporting the CONNACK it
got: reason code, Reason String, Server Reference. A case names an Authentication Method and
data (paho 1.6 cannot answer an AUTH packet, so only refusals CONNACK gives at once are seen),
or none for a guest/guest password login. argv: port, then the cases as JSON
([{"method": ..., "data": ...}, {}]). Prints one JSON line: a list of what each case saw."""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port = int(sys.argv[1])
cases = json.loads(sys.argv[2])


def connack(case):
    done = threading.Event()
    seen = {}
    c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
    props = None
    if "method" in case:
        props = Properties(PacketTypes.CONNECT)
        props.AuthenticationMethod = case["method"]
        props.AuthenticationData = case.get("data", "").encode()
    else:
        c.username_pw_set("guest", "guest")

    def on_connect(client, userdata, flags, reason, properties):
        seen["reason"] = reason.value
        seen["why"] = getattr(properties, "ReasonString", None)
        seen["reference"] = getattr(properties, "ServerReference", None)
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30, clean_start=True, properties=props)
    c.loop_start()
    if not done.wait(10):
        raise SystemExit("no CONNACK")
    c.loop_stop()
    c.disconnect()
    return seen


print(json.dumps([connack(case) for case in cases]))
