"""The SLA processor: deadlines from the rule table, evaluated over the case log."""
