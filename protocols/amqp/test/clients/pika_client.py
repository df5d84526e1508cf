"""Drives Junction with pika, the Python client most RabbitMQ users have: transactions,
confirms, returns, basic.get and consume, printing one JSON result line."""
import json
import sys

import pika

port = int(sys.argv[1])
params = pika.ConnectionParameters(host="127.0.0.1", port=port, credentials=pika.PlainCredentials("guest", "guest"))
conn = pika.BlockingConnection(params)
ch = conn.channel()
result = {}

q = ch.queue_declare(queue="", exclusive=True).method.queue

# tx: rollback discards, commit publishes
ch.tx_select()
ch.basic_publish(exchange="", routing_key=q, body=b"rolled-back")
ch.tx_rollback()
ch.basic_publish(exchange="", routing_key=q, body=b"committed", properties=pika.BasicProperties(headers={"k": "v"}, priority=3))
ch.tx_commit()

# tx covers acks too: a rolled-back ack leaves the message unacked, so closing the
# channel requeues it; a committed ack removes it for good.
def get_ack_and_close(finish):
    t = conn.channel()
    t.tx_select()
    method, props, body = t.basic_get(queue=q, auto_ack=False)
    t.basic_ack(method.delivery_tag)
    finish(t)
    t.close()
    return body.decode(), props.headers, ch.queue_declare(queue=q, passive=True).method.message_count

body, headers, left = get_ack_and_close(lambda t: t.tx_rollback())
result["tx_body"] = body
result["tx_headers"] = headers
result["after_rolled_back_ack"] = left
result["after_committed_ack"] = get_ack_and_close(lambda t: t.tx_commit())[2]

# confirms + mandatory return on a fresh channel
ch2 = conn.channel()
ch2.confirm_delivery()
try:
    ch2.basic_publish(exchange="amq.direct", routing_key="nobody", body=b"x", mandatory=True)
    result["unroutable"] = "confirmed"
except pika.exceptions.UnroutableError:
    result["unroutable"] = "returned"
ch2.basic_publish(exchange="", routing_key=q, body=b"confirmed")
got = []
for method, props, body in ch2.consume(q, inactivity_timeout=2):
    if method is None:
        break
    got.append(body.decode())
    ch2.basic_ack(method.delivery_tag)
    break
result["consumed"] = got

# a soft error closes only that channel
ch3 = conn.channel()
try:
    ch3.queue_declare(queue="does-not-exist", passive=True)
except pika.exceptions.ChannelClosedByBroker as e:
    result["passive_missing"] = e.reply_code
result["conn_open"] = conn.is_open
conn.close()
print(json.dumps(result))
