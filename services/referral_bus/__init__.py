"""referral-bus: the event-sourced bus through which Kazakhstan's child-protection agencies refer
children to each other (Annex B of the Manual on Intersectoral Coordination, paras 4.1–7.19).

Layout, pure first: ``contracts`` (the records, mirroring the Avro schemas) and ``domain`` (the
protocol: the step table in ``domain/pathways``, ``domain/decisions`` to decide and fold, deadlines)
import no I/O; ``infra`` holds the codec, Kafka, settings and runtime wiring; ``router``, ``sla`` and
``projections`` are the deployable services, ``sdk`` is what agency systems import, ``auditor``
rebuilds history from the log, ``simulate`` runs scenarios without a broker, ``cli`` is the
``referral-bus`` command.
"""
