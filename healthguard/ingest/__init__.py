"""The three ways vital signs come in (REST JSON, FHIR R4, HL7 v2 over MLLP), each turned
into :class:`healthguard.clinical.vitals.Reading` before anything else happens, and the one
bulk, idempotent store they all share (:mod:`healthguard.ingest.store`)."""
