"""stomp.py (Debian python3-stomp) with the capitalised boolean header values Python code
sends (requeue=False, durable=True, ...). Prints one JSON result line.
Usage: stomppy_booleans.py PORT. Exits non-zero on any failure."""
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
                    errors = [e.headers.get('message') for e in self.errors]
                    raise SystemExit('timed out waiting for %s (errors: %s)' % (what, errors))
                self.cond.wait(left)


def connect(listener, **headers):
    conn = stomp.Connection12([('127.0.0.1', port)], heartbeats=(0, 0), vhost='/')
    conn.set_listener('l', listener)
    conn.connect('guest', 'guest', wait=True, headers=headers)
    return conn


# A poison message NACKed with requeue=False is dead-lettered, never redelivered: the next
# message the subscriber gets is the one sent after the NACK.
lp = Listener()
cp = connect(lp)
cp.subscribe('/queue/py-poison', id='p', ack='client-individual')
cp.send('/queue/py-poison', 'poison')
lp.wait(lambda: len(lp.messages) == 1, 'the poison message')
cp.nack(lp.messages[0].headers['ack'], requeue='False')
cp.send('/queue/py-poison', 'next', headers={'receipt': 'next'})
lp.wait(lambda: len(lp.messages) == 2, 'the message after the NACK')
result['after_nack'] = lp.messages[1].body
cp.ack(lp.messages[1].headers['ack'], receipt='acked')
lp.wait(lambda: 'acked' in lp.receipts, 'the ACK receipt')
cp.disconnect()

# durable=True and persistent=True subscriptions outlive the connection: what is published
# while the subscriber is away is there when it comes back.
for flag in ('durable', 'persistent'):
    dest = '/topic/py.' + flag
    ld = Listener()
    cd = connect(ld, **{'client-id': 'py-' + flag})
    cd.subscribe(dest, id='sub-' + flag, ack='client-individual',
                 headers={flag: 'True', 'auto-delete': 'False', 'receipt': 'sub'})
    ld.wait(lambda: 'sub' in ld.receipts, 'the SUBSCRIBE receipt')
    cd.disconnect()
    lpub = Listener()
    cpub = connect(lpub)
    cpub.send(dest, 'while away', headers={'persistent': 'True', 'receipt': 'sent'})
    lpub.wait(lambda: 'sent' in lpub.receipts, 'the SEND receipt')
    cpub.disconnect()
    ld = Listener()
    cd = connect(ld, **{'client-id': 'py-' + flag})
    cd.subscribe(dest, id='sub-' + flag, ack='client-individual', headers={flag: 'True'})
    ld.wait(lambda: len(ld.messages) == 1, 'the message sent while away', timeout=5)
    m = ld.messages[0]
    result[flag + '_body'] = m.body
    result[flag + '_persistent'] = m.headers.get('persistent')
    cd.ack(m.headers['ack'])
    cd.unsubscribe('sub-' + flag, headers={flag: 'True', 'receipt': 'gone'})
    ld.wait(lambda: 'gone' in ld.receipts, 'the UNSUBSCRIBE receipt')
    cd.disconnect()

# exclusive=True: a second consumer on the queue is refused.
l1 = Listener()
c1 = connect(l1)
c1.subscribe('/queue/py-exclusive', id='x1', headers={'exclusive': 'True', 'receipt': 'x1'})
l1.wait(lambda: 'x1' in l1.receipts, 'the exclusive SUBSCRIBE receipt')
l2 = Listener()
c2 = connect(l2)
c2.subscribe('/queue/py-exclusive', id='x2', headers={'receipt': 'x2'})
l2.wait(lambda: len(l2.errors) == 1 or 'x2' in l2.receipts, 'the second SUBSCRIBE outcome')
result['second_consumer'] = l2.errors[0].headers.get('message') if l2.errors else 'subscribed'
c1.disconnect()

print(json.dumps(result))
