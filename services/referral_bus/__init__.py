"""referral-bus: the event-sourced bus through which Kazakhstan's child-protection agencies refer
children to each other (Annex B of the Manual on Intersectoral Coordination, paras 4.1–7.19).

Layout: ``core`` is the shared library (``core.domain`` is pure logic with no I/O), ``router`` and
``sla`` are the deployable stream processors, ``sdk`` is what agency systems import, ``auditor``
rebuilds history from the log, ``cli`` is the ``referral-bus`` command.
"""
