"""pika over TLS (AMQPS), verifying the broker's certificate against the test CA: declares a
queue, publishes with a confirm and gets the message back, printing one JSON result line."""
import json
import ssl
import sys

import pika

port, cafile = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=cafile)
params = pika.ConnectionParameters(
    host="127.0.0.1",
    port=port,
    credentials=pika.PlainCredentials("guest", "guest"),
    ssl_options=pika.SSLOptions(context, "localhost"),
)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.confirm_delivery()
q = ch.queue_declare(queue="", exclusive=True).method.queue
ch.basic_publish(exchange="", routing_key=q, body=b"pika over tls")
method, props, body = ch.basic_get(queue=q, auto_ack=True)
conn.close()
print(json.dumps({"body": body.decode()}))
