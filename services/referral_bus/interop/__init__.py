"""The published contract for agency systems in any language, as data: reason codes, who may publish
what, and the AsyncAPI 3 document — generated from the code that enforces them and committed
(`python -m referral_bus.interop write`; a test fails when a committed file is stale)."""
