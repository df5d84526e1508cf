"""Logs in to Junction's AMQPS port with pika's ExternalCredentials (the client certificate
names the user), declares a queue the user may declare and one it may not, printing one JSON
result line."""
import json
import ssl
import sys

import pika

port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
params = pika.ConnectionParameters(
    host="localhost",
    port=port,
    credentials=pika.credentials.ExternalCredentials(),
    ssl_options=pika.SSLOptions(context, "localhost"),
)
conn = pika.BlockingConnection(params)
result = {}
ch = conn.channel()
result["declared"] = ch.queue_declare(queue="alice.pika", exclusive=True).method.queue
try:
    conn.channel().queue_declare(queue="not-alice")
except pika.exceptions.ChannelClosedByBroker as e:
    result["refused"] = e.reply_code
conn.close()
print(json.dumps(result))
