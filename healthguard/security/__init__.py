"""Security: sign-in, tokens and keys, roles and ward scope, patient-data encryption, audit."""
