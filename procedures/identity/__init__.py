"""Identity: My Number card (JPKI) verification, link statements, test CA."""
