"""Every sentence a user can see, kept together so they can be read and reviewed as one text.

One module per area (restore, backups, policies, access, assurance, settings, ...), each
holding the sentences of that area as functions named by what they say. The package is
core: it imports nothing of Slack, so the workflow, the rules and the Slack surface can all
take their words from here. Slack's own markup (mentions, `<!date^…>`) is built by small
helpers here too, since every answer ends up in Slack or in the console that renders it.
"""
