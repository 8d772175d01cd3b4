"""What an operator sees of the running bot: metrics, structured logs and health probes.

- ``metrics``: every Prometheus metric the bot exports, defined once in one registry, and
  the small functions the bot's parts call to record what they did;
- ``context``: the current Slack request (its id, kind, name and outcome) in a context
  variable, so logs, metrics and the "Something went wrong (ref …)" answer agree;
- ``logs``: text or JSON log lines with every field redacted;
- ``sampler``: state that lives in Redis (tracked operations, outbox, restore sessions)
  read at an interval into gauges;
- ``probes``: ``/healthz``, ``/readyz`` and ``/metrics`` for the HTTP servers.

Nothing here imports the Slack side, so the core packages may record metrics too.
"""
