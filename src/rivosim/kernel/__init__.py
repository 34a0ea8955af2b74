"""The kernel: what every layer may use and nothing else defines — the clock (virtual or wall), the one seeded
source of ids and randomness, the domain's errors, the journal, and the transport-action contract between the
request pipeline and the carriers. Standard library only (``tests/unit/test_layers.py`` holds it to that)."""
