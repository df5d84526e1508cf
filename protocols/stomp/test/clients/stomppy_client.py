"""Drives the STOMP adapter with stomp.py (Debian python3-stomp) and prints one JSON
result line. Usage: stomppy_client.py PORT. Exits non-zero on any failure."""
import json
import sys
import threading
import time

import stomp

port = int(sys.argv[1])
result = {}


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.receipts = set()
        self.errors = []
        self.cond = threading.Condition()

    def on_message(self, frame):
        with self.cond:
            self.messages.append(frame)
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.add(frame.headers.get('receipt-id'))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame)
            self.cond.notify_all()

    def wait(self, pred, what, timeout=10):
        deadline = time.time() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.time()
                if left <= 0:
                    raise SystemExit('timed out waiting for ' + what)
                self.cond.wait(left)


def connect(version_cls, listener):
    conn = version_cls([('127.0.0.1', port)], heartbeats=(0, 0), vhost='/')
    conn.set_listener('l', listener)
    conn.connect('guest', 'guest', wait=True)
    return conn


# STOMP 1.2: send with receipt, client-individual ack, custom headers, NACK redelivery.
l12 = Listener()
c12 = connect(stomp.Connection12, l12)
c12.subscribe('/queue/py-q', id='py-1', ack='client-individual')
c12.send('/queue/py-q', 'hello from python', headers={'x-py': 'yes', 'receipt': 'r1'})
l12.wait(lambda: 'r1' in l12.receipts, 'receipt r1')
l12.wait(lambda: len(l12.messages) == 1, 'message 1')
m = l12.messages[0]
result['v12_body'] = m.body
result['v12_header'] = m.headers.get('x-py')
c12.nack(m.headers['ack'])
l12.wait(lambda: len(l12.messages) == 2, 'redelivery')
result['v12_redelivered'] = l12.messages[1].headers.get('redelivered')
c12.ack(l12.messages[1].headers['ack'])

# Transactions: nothing before commit.
tx = c12.begin()
c12.send('/queue/py-q', 'in tx', transaction=tx)
c12.send('/queue/py-sync', '', headers={'receipt': 'sync1'})
l12.wait(lambda: 'sync1' in l12.receipts, 'sync1')
result['before_commit'] = len(l12.messages)
c12.commit(tx)
l12.wait(lambda: len(l12.messages) == 3, 'committed message')
result['after_commit_body'] = l12.messages[2].body
c12.ack(l12.messages[2].headers['ack'])
c12.disconnect()

# STOMP 1.1 and 1.0 topic round trips.
for name, cls in (('v11', stomp.Connection11), ('v10', stomp.Connection10)):
    li = Listener()
    ci = cls([('127.0.0.1', port)]) if name == 'v10' else cls([('127.0.0.1', port)], heartbeats=(0, 0), vhost='/')
    ci.set_listener('l', li)
    ci.connect('guest', 'guest', wait=True)
    if name == 'v10':
        ci.subscribe('/topic/py.' + name, ack='auto')
    else:
        ci.subscribe('/topic/py.' + name, id='t', ack='auto')
    ci.send('/queue/py-sync', '', headers={'receipt': 'sync-' + name})
    li.wait(lambda: 'sync-' + name in li.receipts, 'sync ' + name)
    ci.send('/topic/py.' + name, 'topic ' + name)
    li.wait(lambda: len(li.messages) == 1, 'topic message ' + name)
    result[name + '_body'] = li.messages[0].body
    ci.disconnect()

# An invalid destination gets an ERROR frame.
le = Listener()
ce = connect(stomp.Connection12, le)
ce.send('/nowhere/x', 'x')
le.wait(lambda: len(le.errors) == 1, 'error frame')
result['error_message'] = le.errors[0].headers.get('message')

print(json.dumps(result))
