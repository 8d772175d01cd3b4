"""Backup assurance: the bot keeps every policy covered by a restorable backup.

- ``schedules`` and ``store``: the schedules the bot runs for v1 policies (Atlassian
  schedules v2 ones itself), their slots on the injected clock, their audit trail;
- ``scheduler``: each slot's backup, exactly once across replicas, retried when it fails;
- ``coverage``: pure rules: is a policy covered, did its newest backup shrink;
- ``watch``: the freshness and size alerts and the daily digest, queued once each;
- ``status``: how much the org would lose if it had to restore now.

Core: nothing here imports Slack. Its words come from ``bot.messages.assurance``; what it
says is queued in the tracker's outboxes (``NoticePost``) and sent by the tracker, and a
scheduled backup's card is drawn by a port (``ports.BackupCards``) that Slack implements.
"""
