"""Pure domain logic — routing, legal transitions, case state, hash chain, deadlines.

No I/O and no Kafka/Faust/fastavro imports: everything here can be unit-tested, simulated and
replayed deterministically.
"""
