"""Floor 4: the engine meets the world (FHIR R4 in, CDS Hooks, batch runs). Imports the engine."""
