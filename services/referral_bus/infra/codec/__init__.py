"""Avro wire format (fastavro) with Confluent framing: magic byte 0, 4-byte schema id, payload."""
