"""The validator/router service: ingress topics → receipts, case log, inboxes, dead letters."""
