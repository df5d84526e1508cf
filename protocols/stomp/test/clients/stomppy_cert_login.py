"""Logs in to STOMPS with stomp.py (Debian python3-stomp) by client certificate alone (no
login, no passcode), sends to QUEUE and reads it back, and prints one JSON line: the body, or
{refused, error} when the broker refuses the login (error: the ERROR frame's message).
Usage: stomppy_cert_login.py PORT CA_FILE CERT_FILE KEY_FILE QUEUE"""
import json
import sys
import threading

import stomp

port, ca, cert, key, queue = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.body = None
        self.error = None
        self.done = threading.Event()

    def on_message(self, frame):
        self.body = frame.body
        self.done.set()

    def on_error(self, frame):
        self.error = frame.headers.get('message')
        self.done.set()

    def on_disconnected(self):
        self.done.set()


host = ('localhost', port)
conn = stomp.Connection12([host], heartbeats=(0, 0))
conn.set_ssl(for_hosts=[host], ca_certs=ca, cert_file=cert, key_file=key)
listener = Listener()
conn.set_listener('l', listener)
try:
    conn.connect(wait=True, headers={'host': '/'})
except stomp.exception.ConnectFailedException:
    # The refusal: ERROR then close. stomp.py reads a reset socket as closed and may drop the
    # ERROR frame it had not parsed yet, so a refusal is reported with or without its message.
    listener.done.wait(10)
    print(json.dumps({'refused': True, 'error': listener.error}))
    sys.exit(0)
conn.subscribe(destination='/queue/' + queue, id='1', ack='auto')
conn.send(destination='/queue/' + queue, body='stomp.py by certificate')
listener.done.wait(10)
conn.disconnect()
print(json.dumps({'body': listener.body}))
