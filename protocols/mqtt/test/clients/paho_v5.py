"""Debian's python3-paho-mqtt speaking MQTT 5 to Junction: CONNACK reason codes and
properties (Response Information, the capped Session Expiry Interval), and a QoS 1 round
trip. Prints one JSON line: what it saw."""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port = int(sys.argv[1])


def connect(password, client_id="", properties=None):
    """Connects; returns (client, reason code, CONNACK properties as a dict)."""
    done = threading.Event()
    seen = {}
    c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set("guest", password)

    def on_connect(client, userdata, flags, reason, properties):
        seen["reason"] = reason.value
        seen["properties"] = properties.json() if properties is not None else {}
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30, clean_start=True, properties=properties)
    c.loop_start()
    if not done.wait(10):
        raise SystemExit("no CONNACK")
    return c, seen["reason"], seen["properties"]


out = {}
bad, reason, _ = connect("wrong")
bad.loop_stop()
out["bad_password"] = reason

c, reason, props = connect("guest")
out["ok"] = reason
out["assigned"] = props.pop("AssignedClientIdentifier", "").startswith("junction-")
out["connack"] = props

got = threading.Event()
received = {}


def on_message(client, userdata, msg):
    received["payload"] = msg.payload.decode()
    received["qos"] = msg.qos
    got.set()


subscribed = threading.Event()
c.on_message = on_message
c.on_subscribe = lambda client, userdata, mid, codes, properties: subscribed.set()
c.subscribe("paho5/t", qos=1)
if not subscribed.wait(10):
    raise SystemExit("no SUBACK")
c.publish("paho5/t", "from paho v5", qos=1).wait_for_publish(10)
if not got.wait(10):
    raise SystemExit("no message")
out["received"] = received
c.disconnect()
c.loop_stop()

# Request Response Information, and a session that would never expire (the server caps it).
asks = Properties(PacketTypes.CONNECT)
asks.RequestResponseInformation = 1
asks.SessionExpiryInterval = 0xFFFFFFFF
r, reason, props = connect("guest", "paho5-rri", asks)
out["response_information"] = props.get("ResponseInformation")
out["session_expiry"] = props.get("SessionExpiryInterval")
r.disconnect()
r.loop_stop()
print(json.dumps(out))
