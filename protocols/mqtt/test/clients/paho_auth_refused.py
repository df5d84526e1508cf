"""Debian's python3-paho-mqtt (MQTT 5) naming an Authentication Method in CONNECT: what CONNACK
says for SCRAM-SHA-256 as a user whose password was imported as a hash, and for a method the
server does not offer. paho 1.6 cannot answer an AUTH packet, so only these refusals (which
come in CONNACK at once) are tested with it. Prints one JSON line: reason codes and strings."""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port = int(sys.argv[1])


def refused(method, data):
    done = threading.Event()
    seen = {}
    c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.AuthenticationMethod = method
    props.AuthenticationData = data

    def on_connect(client, userdata, flags, reason, properties):
        seen["reason"] = reason.value
        seen["why"] = getattr(properties, "ReasonString", "") if properties is not None else ""
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30, clean_start=True, properties=props)
    c.loop_start()
    if not done.wait(10):
        raise SystemExit("no CONNACK")
    c.loop_stop()
    return seen


print(
    json.dumps(
        {
            "hash_only": refused("SCRAM-SHA-256", b"n,,n=hashed,r=pahononce"),
            "unknown_method": refused("GS2-KRB5", b""),
        }
    )
)
