"""Debian's python3-paho-mqtt as a member of a shared subscription group, at MQTT 5 or 3.1.1.
Arguments: port, protocol level (5 or 4), shared filter, control topic. After the SUBACK it
publishes "ready" to <control>/ready; it then collects the group's messages until "done"
arrives on <control>/done (a plain subscription). Prints one JSON line: the payloads it got
and the SUBACK codes."""
import json
import sys
import threading

import paho.mqtt.client as mqtt

port, level, shared, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
v5 = level == 5
c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
c.username_pw_set("guest", "guest")
connected, subscribed, done = threading.Event(), threading.Event(), threading.Event()
out = {"payloads": [], "granted": []}


def on_connect(client, userdata, flags, rc, properties=None):
    out["connack"] = rc.value if v5 else rc
    connected.set()


def on_subscribe(client, userdata, mid, granted, properties=None):
    out["granted"] = [g.value if v5 else g for g in granted]
    subscribed.set()


def on_message(client, userdata, msg):
    if msg.topic == control + "/done":
        done.set()
    else:
        out["payloads"].append(msg.payload.decode())


c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
if v5:
    c.connect("127.0.0.1", port, keepalive=30, clean_start=True)
else:
    c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(10):
    raise SystemExit("no CONNACK")
c.subscribe([(shared, 1), (control + "/done", 1)])
if not subscribed.wait(10):
    raise SystemExit("no SUBACK")
c.publish(control + "/ready", "ready", qos=1).wait_for_publish(10)
if not done.wait(20):
    raise SystemExit("no done")
c.disconnect()
c.loop_stop()
print(json.dumps(out))
